"""The Instagram emulator speaks Meta's Graph + rupload protocol (providers.md §2, §3, §8.2)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import httpx

from atroposd.emulator import EmulatorServer

from .support import blob, faults, posts, run, wait_for

GRAPH = "/instagram/v26.0"
IG = "1784000000000001"
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(8)  # an ISO-BMFF first box


async def token(client: httpx.AsyncClient, account: str = "alice", ver: str = "v26.0") -> str:
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": "app",
        "client_secret": "secret",
        "fb_exchange_token": f"sandbox:{account}:login",
    }
    resp = await client.get(f"/instagram/{ver}/oauth/access_token", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.json()["expires_in"] == 5183944 and resp.json()["token_type"] == "bearer"
    return str(resp.json()["access_token"])


def auth(tok: str, scheme: str = "Bearer") -> dict[str, str]:
    return {"Authorization": f"{scheme} {tok}"}


async def container(
    client: httpx.AsyncClient, tok: str, caption: str = "A reel #shorts", **extra: str
) -> httpx.Response:
    form = {"media_type": "REELS", "upload_type": "resumable", "caption": caption, **extra}
    return await client.post(f"{GRAPH}/{IG}/media", data=form, headers=auth(tok))


async def rupload(
    client: httpx.AsyncClient, tok: str, uri: str, data: bytes, offset: int, total: int
) -> httpx.Response:
    headers = {**auth(tok, "OAuth"), "offset": str(offset), "file_size": str(total)}
    return await client.post(uri, content=data, headers=headers)


async def status(client: httpx.AsyncClient, tok: str, cid: str) -> dict[str, Any]:
    resp = await client.get(
        f"{GRAPH}/{cid}", params={"fields": "status_code,status"}, headers=auth(tok)
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def publish(client: httpx.AsyncClient, tok: str, cid: str) -> httpx.Response:
    return await client.post(
        f"{GRAPH}/{IG}/media_publish", params={"creation_id": cid}, headers=auth(tok)
    )


async def uploaded(client: httpx.AsyncClient, tok: str, data: bytes, **extra: str) -> str:
    """A container holding ``data``, sent in three requests; its id once FINISHED."""
    made = (await container(client, tok, **extra)).json()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for start, end in itertools.pairwise(cut):
        resp = await rupload(client, tok, made["uri"], data[start:end], start, len(data))
        assert resp.json() == {"success": True, "message": "Upload successful."}
    cid = str(made["id"])

    async def finished() -> bool:
        return (await status(client, tok, cid))["status_code"] != "IN_PROGRESS"

    await wait_for(finished)
    return cid


def error(resp: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    assert body["fbtrace_id"], body
    return body


def test_a_reel_goes_container_rupload_finished_publish(tmp_path: Path) -> None:
    data = MP4 + blob(300_000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        made = await container(client, tok)
        assert made.status_code == 200
        usage = json.loads(made.headers["x-business-use-case-usage"])
        assert usage[IG][0]["estimated_time_to_regain_access"] == 0
        assert "call_count" in json.loads(made.headers["x-app-usage"])
        uri, cid = made.json()["uri"], made.json()["id"]
        assert uri == f"{server.base_url}/instagram/rupload/ig-api-upload/v26.0/{cid}"
        assert (await status(client, tok, cid))["status_code"] == "IN_PROGRESS"
        half = len(data) // 2
        assert (await rupload(client, tok, uri, data[:half], 0, len(data))).status_code == 200
        asked = await client.get(uri, headers=auth(tok, "OAuth"))
        assert asked.json() == {"offset": half, "file_size": len(data)}
        assert (await rupload(client, tok, uri, data[half:], half, len(data))).status_code == 200
        await wait_for(lambda: _finished(client, tok, cid))
        done = await publish(client, tok, cid)
        assert done.status_code == 200, done.text
        media_id = done.json()["id"]
        [post] = await posts(client)
        assert post["platform"] == "instagram" and post["account"] == "alice"
        assert post["id"] == media_id and post["caption"] == "A reel #shorts"
        assert post["sha256"] == hashlib.sha256(data).hexdigest()
        assert (await status(client, tok, cid))["status_code"] == "PUBLISHED"
        again = await publish(client, tok, cid)
        assert again.status_code == 400 and error(again)["code"] == 100
        fields = "id,caption,timestamp,media_product_type,permalink"
        listed = await client.get(
            f"{GRAPH}/{IG}/media", params={"fields": fields}, headers=auth(tok)
        )
        [item] = listed.json()["data"]
        assert item["id"] == media_id and item["media_product_type"] == "REELS"
        assert item["permalink"].startswith("https://www.instagram.com/reel/")
        read = await client.get(
            f"{GRAPH}/{media_id}", params={"fields": "permalink"}, headers=auth(tok)
        )
        assert read.json()["permalink"] == item["permalink"]
        assert len(await posts(client)) == 1

    run(scenario, tmp_path)


async def _finished(client: httpx.AsyncClient, tok: str, cid: str) -> bool:
    return (await status(client, tok, cid))["status_code"] == "FINISHED"


def test_any_graph_version_is_accepted_and_the_uri_follows_it(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client, ver="v99.1")
        form = {"media_type": "REELS", "upload_type": "resumable"}
        made = await client.post(f"/instagram/v19.0/{IG}/media", data=form, headers=auth(tok))
        assert "/ig-api-upload/v19.0/" in made.json()["uri"]
        unversioned = await client.post(f"/instagram/{IG}/media", data=form, headers=auth(tok))
        assert unversioned.status_code == 400
        bare_uri = made.json()["uri"].replace("/ig-api-upload/v19.0/", "/ig-api-upload/")
        assert (await rupload(client, tok, bare_uri, b"ab", 0, 4)).status_code == 200  # §3.1
        held = await client.get(made.json()["uri"], headers=auth(tok, "OAuth"))
        assert held.json()["offset"] == 2

    run(scenario, tmp_path)


def test_rupload_enforces_its_headers_and_the_offset_held(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = (await container(client, tok)).json()["uri"]
        bare = await client.post(uri, content=b"abc", headers=auth(tok, "OAuth"))
        assert bare.status_code == 400
        assert bare.json()["debug_info"] == {
            "retriable": False,
            "type": "ParameterValidationError",
            "message": "HeaderValuePredicate: Header Offset not convertable to unsigned long",
        }
        assert (await rupload(client, tok, uri, b"abcd", 0, 10)).status_code == 200
        ahead = await rupload(client, tok, uri, b"ef", 6, 10)
        assert ahead.status_code == 400 and "4 bytes" in ahead.json()["debug_info"]["message"]
        behind = await rupload(client, tok, uri, b"ab", 0, 10)
        assert behind.status_code == 400
        resized = await rupload(client, tok, uri, b"ef", 4, 12)
        assert resized.status_code == 400
        too_long = await rupload(client, tok, uri, b"efghijklmn", 4, 10)
        assert too_long.status_code == 400
        anonymous = await client.post(
            uri, content=b"ef", headers={"offset": "4", "file_size": "10"}
        )
        assert anonymous.status_code == 401 and "debug_info" in anonymous.json()
        headers = {**auth(tok), "offset": "4", "file_size": "10"}  # Bearer: Graph's, not rupload's
        assert (await client.post(uri, content=b"ef", headers=headers)).status_code == 401
        assert (await client.get(uri, headers=auth(tok, "OAuth"))).json()["offset"] == 4
        other = await token(client, "bob")
        assert (await rupload(client, other, uri, b"ef", 4, 10)).status_code == 403
        assert (await client.get(uri.rsplit("/", 1)[0] + "/999")).status_code in (401, 404)

    run(scenario, tmp_path)


def test_containers_are_checked_like_instagram_does(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        cases = {
            " ".join(f"#t{i}" for i in range(31)): "at most 30 hashtags",
            " ".join(f"@u{i}" for i in range(21)): "at most 20 @mentions",
            "x" * 2201: "at most 2,200 characters",
        }
        for caption, words in cases.items():
            resp = await container(client, tok, caption)
            assert resp.status_code == 400 and error(resp)["code"] == 100
            assert words in error(resp)["error_user_msg"]
        ok = " ".join(f"#t{i}" for i in range(30)) + " " + " ".join(f"@u{i}" for i in range(20))
        assert (await container(client, tok, ok)).status_code == 200
        form = {"media_type": "VIDEO", "upload_type": "resumable"}
        wrong = await client.post(f"{GRAPH}/{IG}/media", data=form, headers=auth(tok))
        assert wrong.status_code == 400 and error(wrong)["code"] == 100
        bad_thumb = await container(client, tok, thumb_offset="-5")
        assert (error(bad_thumb)["code"], error(bad_thumb)["error_subcode"]) == (1, 2207057)
        as_json = {"media_type": "REELS", "upload_type": "resumable", "share_to_feed": False}
        assert (
            await client.post(f"{GRAPH}/{IG}/media", json=as_json, headers=auth(tok))
        ).status_code == 200
        bob = await token(client, "bob")
        taken = await container(client, bob)
        assert taken.status_code == 400 and error(taken)["code"] == 10

    run(scenario, tmp_path)


def test_tokens_expired_invalid_revoked_answer_190(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        garbage = await container(client, "not-a-token")
        assert (error(garbage)["code"], error(garbage)["error_subcode"]) == (190, 467)
        await client.post("/_emulator/expire_tokens", json={"platform": "instagram"})
        expired = await container(client, tok)
        assert expired.status_code == 400
        assert (error(expired)["code"], error(expired)["error_subcode"]) == (190, 463)
        assert error(expired)["type"] == "OAuthException"
        params = {"grant_type": "fb_exchange_token", "client_id": "a", "client_secret": "s"}
        renewed = await client.get(
            f"{GRAPH}/oauth/access_token", params={**params, "fb_exchange_token": tok}
        )
        assert renewed.status_code == 200  # the documented deviation (emulator/meta.py)
        fresh = renewed.json()["access_token"]
        assert (await container(client, fresh)).status_code == 200
        await client.post("/_emulator/revoke", json={"platform": "instagram", "account": "alice"})
        revoked = await container(client, fresh)
        assert (error(revoked)["code"], error(revoked)["error_subcode"]) == (190, 458)
        for old in (fresh, "sandbox:alice:login"):
            again = await client.get(
                f"{GRAPH}/oauth/access_token", params={**params, "fb_exchange_token": old}
            )
            assert again.status_code == 400 and error(again)["code"] == 190
        no_client = await client.get(
            f"{GRAPH}/oauth/access_token", params={"fb_exchange_token": old}
        )
        assert no_client.status_code == 400

    run(scenario, tmp_path)


def test_publish_waits_for_finished_and_refuses_expired_containers(tmp_path: Path) -> None:
    data = MP4 + blob(1000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        made = (await container(client, tok)).json()
        early = await publish(client, tok, made["id"])
        assert (error(early)["code"], error(early)["error_subcode"]) == (9007, 2207027)
        cid = await uploaded(client, tok, data)
        expired = await client.post("/_emulator/instagram/expire_containers", json={"id": cid})
        assert expired.json() == {"expired": 1}
        assert (await status(client, tok, cid))["status_code"] == "EXPIRED"
        late = await publish(client, tok, cid)
        assert (error(late)["code"], error(late)["error_subcode"]) == (-2, 2207020)
        unknown = await publish(client, tok, "123")
        assert error(unknown)["code"] == 100
        assert await posts(client) == []

    run(scenario, tmp_path)


def test_the_publishing_cap_counts_a_rolling_window(tmp_path: Path) -> None:
    data = MP4 + blob(1000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        limit = {"quota_total": 1, "quota_duration": 86400}
        await client.post("/_emulator/instagram/publishing_limit", json=limit)
        first, second = await uploaded(client, tok, data), await uploaded(client, tok, data)
        assert (await publish(client, tok, first)).status_code == 200
        capped = await publish(client, tok, second)
        assert (error(capped)["code"], error(capped)["error_subcode"]) == (9, 2207042)
        assert "maximum number of posts" in error(capped)["error_user_msg"]
        usage = await client.get(
            f"{GRAPH}/{IG}/content_publishing_limit",
            params={"fields": "config,quota_usage"},
            headers=auth(tok),
        )
        assert usage.json() == {
            "data": [{"quota_usage": 1, "config": {"quota_total": 1, "quota_duration": 86400}}]
        }
        shorter = {"quota_total": 1, "quota_duration": 0.05}  # the first post leaves the window
        await client.post("/_emulator/instagram/publishing_limit", json=shorter)

        async def freed() -> bool:
            return (await publish(client, tok, second)).status_code == 200

        await wait_for(freed)
        assert len(await posts(client)) == 2

    run(scenario, tmp_path)


def test_processing_errors_carry_their_reason(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        await client.post(
            "/_emulator/instagram/fail_processing", json={"status": "Error: boom 2207001"}
        )
        scripted = await uploaded(client, tok, MP4 + blob(100))
        assert await status(client, tok, scripted) == {
            "id": scripted,
            "status_code": "ERROR",
            "status": "Error: boom 2207001",
        }
        not_video = await uploaded(client, tok, b"plain text, no video at all")
        got = await status(client, tok, not_video)
        assert got["status_code"] == "ERROR" and "2207026" in got["status"]
        assert (await uploaded_then_status(client, tok))["status_code"] == "FINISHED"

    run(scenario, tmp_path)


async def uploaded_then_status(client: httpx.AsyncClient, tok: str) -> dict[str, Any]:
    return await status(client, tok, await uploaded(client, tok, MP4 + blob(100)))


def test_faults_answer_in_each_steps_own_shape(tmp_path: Path) -> None:
    data = MP4 + blob(3000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        await faults(
            client,
            {"platform": "instagram", "step": "container", "action": "status", "code": 429},
            {"platform": "instagram", "step": "rupload", "action": "status", "code": 503},
        )
        throttled = await container(client, tok)
        assert throttled.status_code == 429 and error(throttled)["code"] == 4
        made = (await container(client, tok)).json()
        failed = await rupload(client, tok, made["uri"], data, 0, len(data))
        assert failed.status_code == 503 and failed.json()["debug_info"]["retriable"] is True
        cid = await uploaded(client, tok, data)
        rule = {"platform": "instagram", "step": "publish", "action": "commit_then_drop"}
        await faults(client, rule)
        try:
            await publish(client, tok, cid)
            raise AssertionError("the answer was not dropped")
        except httpx.RemoteProtocolError:
            pass
        assert (await status(client, tok, cid))["status_code"] == "PUBLISHED"
        assert len(await posts(client)) == 1

    run(scenario, tmp_path)
