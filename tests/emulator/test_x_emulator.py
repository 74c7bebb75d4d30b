"""The X emulator over real HTTP: OAuth 1.0a and 2.0, chunked media, posts, limits, faults."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from atroposd.emulator import EmulatorServer
from atroposd.providers.auth import OAuth1Keys, oauth1_header
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart
from tests.emulator.support import faults, posts, run, wait_for

CK, CS = "sandbox-consumer-key", "sandbox-consumer-secret"
INIT = "/x/2/media/upload/initialize"
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."


def _basic() -> dict[str, str]:
    raw = base64.b64encode(b"cid:csecret").decode()
    return {"Authorization": f"Basic {raw}"}


async def bearer(client: httpx.AsyncClient, account: str = "alice") -> tuple[str, str]:
    """(access token, rotated refresh token) from a sandbox refresh token."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": f"sandbox:{account}:{secrets.token_hex(4)}",
    }
    resp = await client.post("/x/2/oauth2/token", data=form, headers=_basic())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["expires_in"] == 7200 and body["token_type"] == "bearer"
    return str(body["access_token"]), str(body["refresh_token"])


async def oauth1_login(client: httpx.AsyncClient, account: str = "alice") -> OAuth1Keys:
    """The three-legged flow, signed with the library the provider uses."""
    base = str(client.base_url).rstrip("/")
    app = OAuth1Keys(CK, CS, "", "")
    url = f"{base}/x/oauth/request_token"
    head = oauth1_header(app, "POST", url, extra=[("oauth_callback", "oob")])
    temp = dict(parse_qsl((await client.post(url, headers={"Authorization": head})).text))
    assert temp["oauth_callback_confirmed"] == "true"
    params = {"oauth_token": temp["oauth_token"], "screen_name": account}
    verifier = dict(parse_qsl((await client.get("/x/oauth/authorize", params=params)).text))
    pending = OAuth1Keys(CK, CS, temp["oauth_token"], temp["oauth_token_secret"])
    url = f"{base}/x/oauth/access_token"
    head = oauth1_header(
        pending, "POST", url, extra=[("oauth_verifier", verifier["oauth_verifier"])]
    )
    got = dict(parse_qsl((await client.post(url, headers={"Authorization": head})).text))
    assert got["screen_name"] == account and got["user_id"].isdigit()
    return OAuth1Keys(CK, CS, got["oauth_token"], got["oauth_token_secret"])


def signed(client: httpx.AsyncClient, keys: OAuth1Keys, method: str, path: str) -> dict[str, str]:
    url = str(client.base_url).rstrip("/") + path
    return {"Authorization": oauth1_header(keys, method, url)}


async def init(client: httpx.AsyncClient, auth: dict[str, str], size: int) -> str:
    body = {"media_type": "video/mp4", "total_bytes": size, "media_category": "tweet_video"}
    resp = await client.post(INIT, json=body, headers=auth)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["media_key"] == f"13_{data['id']}" and data["expires_after_secs"] > 0
    return str(data["id"])


async def append(
    client: httpx.AsyncClient, auth: dict[str, str], media_id: str, index: int, data: bytes
) -> httpx.Response:
    async def source() -> Any:
        yield data

    body = MultipartBody(
        [TextPart("segment_index", str(index)), StreamPart("media", len(data), source)]
    )
    path = f"/x/2/media/upload/{media_id}/append"
    return await client.post(path, content=body, headers={**body.headers, **auth})


async def uploaded(client: httpx.AsyncClient, auth: dict[str, str], data: bytes, seg: int) -> str:
    """A media id whose bytes are all appended, finalized and processed."""
    media_id = await init(client, auth, len(data))
    for index, start in enumerate(range(0, len(data), seg)):
        resp = await append(client, auth, media_id, index, data[start : start + seg])
        assert resp.status_code == 200, resp.text
    resp = await client.post(f"/x/2/media/upload/{media_id}/finalize", headers=auth)
    assert resp.status_code == 200, resp.text
    info = resp.json()["data"]["processing_info"]
    assert info["state"] == "pending" and isinstance(info["check_after_secs"], int)

    async def done() -> bool:
        got = await client.get(
            "/x/2/media/upload", params={"command": "STATUS", "media_id": media_id}, headers=auth
        )
        return bool(got.json()["data"]["processing_info"]["state"] == "succeeded")

    await wait_for(done)
    return media_id


async def tweet(
    client: httpx.AsyncClient, auth: dict[str, str], text: str, media_id: str
) -> httpx.Response:
    body = {"text": text, "media": {"media_ids": [media_id]}}
    return await client.post("/x/2/tweets", json=body, headers=auth)


def test_chunked_upload_and_post_with_oauth2(tmp_path: Path) -> None:
    data = secrets.token_bytes(700_000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, _ = await bearer(client)
        auth = {"Authorization": f"Bearer {access}"}
        media_id = await uploaded(client, auth, data, 256 * 1024)
        resp = await tweet(client, auth, "Hello from the emulator #shorts", media_id)
        assert resp.status_code == 201, resp.text
        post = resp.json()["data"]
        assert post["text"] == "Hello from the emulator #shorts" and post[
            "edit_history_post_ids"
        ] == [post["id"]]
        [record] = await posts(client)
        assert (
            record["platform"] == "x"
            and record["id"] == post["id"]
            and record["account"] == "alice"
        )
        assert record["sha256"] == hashlib.sha256(data).hexdigest() and record["bytes"] == len(data)
        assert record["caption"] == "Hello from the emulator #shorts"
        me = (await client.get("/x/2/users/me", headers=auth)).json()["data"]
        line = await client.get(
            f"/x/2/users/{me['id']}/tweets",
            params={"max_results": "5", "post.fields": "attachments,created_at"},
            headers=auth,
        )
        [listed] = line.json()["data"]
        assert listed["id"] == post["id"] and listed["attachments"]["media_keys"] == [
            f"13_{media_id}"
        ]

    run(scenario, tmp_path)


def test_oauth1_signatures_are_verified(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        keys = await oauth1_login(client)
        good = signed(client, keys, "GET", "/x/2/users/me")
        assert (await client.get("/x/2/users/me", headers=good)).status_code == 200
        again = await client.get("/x/2/users/me", headers=good)  # same nonce and timestamp
        assert again.status_code == 401 and again.json()["title"] == "Unauthorized"
        wrong_secret = OAuth1Keys(CK, CS, keys.token, keys.token_secret + "x")
        assert (
            await client.get(
                "/x/2/users/me", headers=signed(client, wrong_secret, "GET", "/x/2/users/me")
            )
        ).status_code == 401
        other_path = signed(client, keys, "GET", "/x/2/users/you")
        assert (await client.get("/x/2/users/me", headers=other_path)).status_code == 401
        url = str(client.base_url).rstrip("/") + "/x/2/users/me"
        stale = oauth1_header(keys, "GET", url, timestamp=int(time.time()) - 3600)
        assert (
            await client.get("/x/2/users/me", headers={"Authorization": stale})
        ).status_code == 401
        # A multipart body is not signed: the same signature holds whatever the bytes are.
        media_id = await init(client, signed(client, keys, "POST", INIT), 10)
        path = f"/x/2/media/upload/{media_id}/append"
        ok = await append(client, signed(client, keys, "POST", path), media_id, 0, b"0123456789")
        assert ok.status_code == 200, ok.text

    run(scenario, tmp_path)


def test_oauth2_refresh_tokens_rotate_and_a_reused_one_kills_the_family(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        _, first = await bearer(client)
        form = {"grant_type": "refresh_token", "refresh_token": first}
        second = await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        assert second.status_code == 200 and second.json()["refresh_token"] != first
        reused = await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_request"
        latest = {"grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]}
        assert (
            await client.post("/x/2/oauth2/token", data=latest, headers=_basic())
        ).status_code == 400
        nobody = await client.post("/x/2/oauth2/token", data=form)  # no client authentication
        assert nobody.status_code == 401 and nobody.json()["error"] == "unauthorized_client"

    run(scenario, tmp_path)


def test_oauth2_pkce_code_flow(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code", "client_id": "cid", "redirect_uri": "http://localhost/cb",
            "scope": "tweet.read tweet.write users.read media.write offline.access",
            "state": "s1", "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256", "sandbox_account": "bob",
        }  # fmt: skip
        resp = await client.get("/x/i/oauth2/authorize", params=params)
        assert resp.status_code == 302
        query = dict(parse_qsl(urlsplit(resp.headers["location"]).query))
        assert query["state"] == "s1"
        form = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": "http://localhost/cb",
            "code_verifier": "wrong",
        }
        assert (
            await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        ).status_code == 400
        resp = await client.get("/x/i/oauth2/authorize", params=params)
        code = dict(parse_qsl(urlsplit(resp.headers["location"]).query))["code"]
        form = {**form, "code": code, "code_verifier": verifier}
        ok = await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        assert ok.status_code == 200 and ok.json()["refresh_token"]
        me = await client.get(
            "/x/2/users/me", headers={"Authorization": f"Bearer {ok.json()['access_token']}"}
        )
        assert me.json()["data"]["username"] == "bob"
        assert (
            await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        ).status_code == 400  # code used

    run(scenario, tmp_path)


def test_segments_are_idempotent_per_index_and_must_add_up(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, _ = await bearer(client)
        auth = {"Authorization": f"Bearer {access}"}
        media_id = await init(client, auth, 30)
        assert (await append(client, auth, media_id, 0, b"a" * 10)).status_code == 200
        assert (await append(client, auth, media_id, 0, b"a" * 10)).status_code == 200  # retry
        [upload] = (await client.get("/_emulator/uploads")).json()
        assert upload["bytes_received"] == 10
        skipped = await append(client, auth, media_id, 2, b"c" * 10)
        assert skipped.status_code == 400 and skipped.json()["type"].endswith("/invalid-request")
        short = await client.post(f"/x/2/media/upload/{media_id}/finalize", headers=auth)
        assert short.status_code == 400
        bad = await client.post(
            INIT,
            json={"media_type": "video/avi", "total_bytes": 1, "media_category": "tweet_video"},
            headers=auth,
        )
        assert bad.status_code == 400 and bad.json()["parameter"] == "media_type"

    run(scenario, tmp_path)


def test_posts_are_checked_like_x(tmp_path: Path) -> None:
    data = secrets.token_bytes(1000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, _ = await bearer(client)
        auth = {"Authorization": f"Bearer {access}"}
        pending = await init(client, auth, len(data))
        early = await tweet(client, auth, "not yet", pending)
        assert early.status_code == 400
        media_id = await uploaded(client, auth, data, 1000)
        cjk = "漢" * 141  # 282 weighted characters: each CJK character weighs 2
        long = await tweet(client, auth, cjk, media_id)
        assert long.status_code == 400 and "282" in long.json()["detail"]
        url_heavy = "x" * 250 + " https://example.com/" + "a" * 100  # the URL weighs 23: 274
        assert (await tweet(client, auth, url_heavy, media_id)).status_code == 201
        again = await tweet(client, auth, url_heavy, media_id)
        assert again.status_code == 403 and again.json()["detail"] == DUPLICATE
        assert (
            await tweet(client, auth, "a second text is a second post", media_id)
        ).status_code == 201
        assert len(await posts(client)) == 2

    run(scenario, tmp_path)


def test_every_answer_carries_rate_limit_headers_and_a_used_up_window_answers_429(
    tmp_path: Path,
) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, _ = await bearer(client)
        auth = {"Authorization": f"Bearer {access}"}
        first = await client.get("/x/2/users/me", headers=auth)
        limit = int(first.headers["x-rate-limit-limit"])
        assert int(first.headers["x-rate-limit-remaining"]) == limit - 1
        assert int(first.headers["x-rate-limit-reset"]) > time.time()
        for _ in range(limit - 1):
            assert (await client.get("/x/2/users/me", headers=auth)).status_code == 200
        over = await client.get("/x/2/users/me", headers=auth)
        assert over.status_code == 429 and over.headers["x-rate-limit-remaining"] == "0"
        assert over.json()["type"] == "https://api.x.com/2/problems/rate-limit-exceeded"
        nobody = await client.get("/x/2/users/me")
        assert nobody.status_code == 401 and "x-rate-limit-reset" in nobody.headers
        assert nobody.headers["content-type"] == "application/problem+json"

    run(scenario, tmp_path)


@pytest.mark.parametrize(
    "step", ["init", "append", "finalize", "status", "tweet", "me", "timeline", "token", "oauth1"]
)
def test_every_step_takes_faults(tmp_path: Path, step: str) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        reset = str(int(time.time()) + 60)
        rule = {
            "platform": "x",
            "step": step,
            "action": "status",
            "code": 429,
            "headers": {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
        }
        await faults(client, rule)
        listed = (await client.get("/_emulator/faults")).json()
        assert [r["step"] for r in listed] == [step]

    run(scenario, tmp_path)


def test_a_fault_keeps_its_own_rate_limit_headers_and_x_problem_body(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, _ = await bearer(client)
        reset = str(int(time.time()) + 60)
        headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
        await faults(
            client,
            {"platform": "x", "step": "me", "action": "status", "code": 429, "headers": headers},
        )
        resp = await client.get("/x/2/users/me", headers={"Authorization": f"Bearer {access}"})
        assert resp.status_code == 429 and resp.headers["x-rate-limit-reset"] == reset
        assert resp.json()["status"] == 429

    run(scenario, tmp_path)


def test_a_revoked_oauth2_token_stops_working(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        access, refresh = await bearer(client)
        auth = {"Authorization": f"Bearer {access}"}
        assert (await client.get("/x/2/users/me", headers=auth)).status_code == 200
        for token in (access, refresh):
            resp = await client.post(
                "/x/2/oauth2/revoke", data={"token": token, "client_id": "cid"}
            )
            assert resp.status_code == 200 and resp.json() == {"revoked": True}
        assert (await client.get("/x/2/users/me", headers=auth)).status_code == 401
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        assert (
            await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        ).status_code == 400

    run(scenario, tmp_path)


def test_sandbox_logins_survive_an_emulator_restart(tmp_path: Path) -> None:
    """As the vault's sandbox tokens do: a restarted emulator takes the logins made before."""
    kept: dict[str, Any] = {}

    async def before(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        kept["keys"] = await oauth1_login(client)
        kept["refresh"] = (await bearer(client))[1]

    async def after(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        keys: OAuth1Keys = kept["keys"]
        me = await client.get("/x/2/users/me", headers=signed(client, keys, "GET", "/x/2/users/me"))
        assert me.status_code == 200 and me.json()["data"]["username"] == "alice"
        form = {"grant_type": "refresh_token", "refresh_token": kept["refresh"]}
        assert (
            await client.post("/x/2/oauth2/token", data=form, headers=_basic())
        ).status_code == 200

    run(before, tmp_path / "one")
    run(after, tmp_path / "two")
