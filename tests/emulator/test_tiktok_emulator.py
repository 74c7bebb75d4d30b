"""The TikTok emulator speaks the Content Posting API v2 as TikTok does (providers.md §5, §8.4)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.emulator import EmulatorServer

from .support import run, wait_for

MIB = 1024 * 1024
API = "/tiktok/v2/post/publish"


async def login(client: httpx.AsyncClient, account: str = "alice") -> tuple[str, str]:
    """(access token, refresh token) from a sandbox authorization code."""
    form = {"client_key": "ck", "client_secret": "cs", "grant_type": "authorization_code"}
    resp = await client.post("/tiktok/v2/oauth/token/", data={**form, "code": f"sandbox:{account}"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["refresh_expires_in"] == 31536000 and body["open_id"]
    return str(body["access_token"]), str(body["refresh_token"])


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    form = {"client_key": "ck", "client_secret": "cs", "grant_type": "refresh_token"}
    return await client.post("/tiktok/v2/oauth/token/", data={**form, "refresh_token": token})


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=UTF-8"}


def info(privacy: str = "PUBLIC_TO_EVERYONE", **extra: Any) -> dict[str, Any]:
    return {"title": "a clip #tiktok", "privacy_level": privacy, **extra}


def source(size: int, chunk: int, total: int) -> dict[str, Any]:
    return {
        "source": "FILE_UPLOAD",
        "video_size": size,
        "chunk_size": chunk,
        "total_chunk_count": total,
    }


async def init(
    client: httpx.AsyncClient, token: str, size: int, chunk: int, total: int, **post: Any
) -> httpx.Response:
    body = {"post_info": info(**post), "source_info": source(size, chunk, total)}
    return await client.post(f"{API}/video/init/", json=body, headers=auth(token))


async def put(
    client: httpx.AsyncClient, url: str, data: bytes, first: int, size: int, kind: str = "video/mp4"
) -> httpx.Response:
    headers = {
        "Content-Type": kind,
        "Content-Range": f"bytes {first}-{first + len(data) - 1}/{size}",
    }
    return await client.put(url, content=data, headers=headers)


async def status(client: httpx.AsyncClient, token: str, publish_id: str) -> dict[str, Any]:
    resp = await client.post(
        f"{API}/status/fetch/", json={"publish_id": publish_id}, headers=auth(token)
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["error"]["code"] == "ok"
    return dict(resp.json()["data"])


def error_of(resp: httpx.Response) -> str:
    err = resp.json()["error"]
    assert set(err) == {"code", "message", "log_id"} and err["log_id"], err
    return str(err["code"])


def test_refresh_tokens_rotate_and_the_old_one_is_refused(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        _, first = await login(client)
        resp = await refresh(client, first)
        assert resp.status_code == 200
        second = resp.json()["refresh_token"]
        assert second != first
        again = await refresh(client, first)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant" and again.json()["log_id"]
        assert (await refresh(client, second)).status_code == 200
        no_client = await client.post(
            "/tiktok/v2/oauth/token/", data={"grant_type": "refresh_token", "refresh_token": second}
        )
        assert no_client.status_code == 401 and no_client.json()["error"] == "invalid_client"

    run(scenario, tmp_path)


def test_creator_info_needs_a_token_and_lists_the_creators_options(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        anonymous = await client.post(f"{API}/creator_info/query/")
        assert anonymous.status_code == 401 and error_of(anonymous) == "access_token_invalid"
        token, _ = await login(client)
        resp = await client.post(f"{API}/creator_info/query/", headers=auth(token))
        data = resp.json()["data"]
        assert resp.json()["error"]["code"] == "ok"
        assert data["privacy_level_options"] == [
            "PUBLIC_TO_EVERYONE",
            "MUTUAL_FOLLOW_FRIENDS",
            "SELF_ONLY",
        ]
        assert data["creator_username"] == "alice" and data["max_video_post_duration_sec"] == 600
        for _ in range(19):  # 20 per minute per token
            await client.post(f"{API}/creator_info/query/", headers=auth(token))
        throttled = await client.post(f"{API}/creator_info/query/", headers=auth(token))
        assert throttled.status_code == 429 and error_of(throttled) == "rate_limit_exceeded"

    run(scenario, tmp_path)


@pytest.mark.parametrize(
    ("size", "chunk", "total", "why"),
    [
        (50_000_123, 10_000_000, 6, "rounded down"),  # the guide's example has 5 chunks
        (50_000_123, 4 * MIB, 11, "between 5 MB and 64 MB"),  # chunk too small
        (200 * 10**6, 65 * 10**6, 3, "between 5 MB and 64 MB"),  # chunk too large
        (3 * MIB, 1 * MIB, 3, "one chunk"),  # under 5 MB: one chunk of the whole size
        (3 * MIB, 3 * MIB, 2, "one chunk"),
        (60 * 10**9, 6 * MIB, 9536, "between 1 and 1000"),
    ],
)
def test_init_rejects_bad_chunk_arithmetic_as_invalid_params(
    tmp_path: Path, size: int, chunk: int, total: int, why: str
) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        resp = await init(client, token, size, chunk, total)
        assert resp.status_code == 400 and error_of(resp) == "invalid_params"
        assert why in resp.json()["error"]["message"]

    run(scenario, tmp_path)


def test_init_accepts_the_guides_example_and_answers_absolute_urls(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        resp = await init(client, token, 50_000_123, 10_000_000, 5)
        data = resp.json()["data"]
        assert resp.status_code == 200 and resp.json()["error"]["code"] == "ok"
        assert data["publish_id"].startswith("v_pub_file~v2-1.") and len(data["publish_id"]) <= 64
        assert data["upload_url"].startswith(server.base_url + "/tiktok/video/?upload_id=")
        assert len(data["upload_url"]) <= 256 and "upload_token=" in data["upload_url"]

    run(scenario, tmp_path)


def test_init_enforces_creator_info_the_title_and_the_daily_cap(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        ctl = "/_emulator/tiktok"
        await client.post(f"{ctl}/creator", json={"account": "alice", "comment_disabled": True})
        refused = await init(client, token, MIB, MIB, 1)
        assert (
            refused.status_code == 400 and "disable_comment" in refused.json()["error"]["message"]
        )
        ok = await init(client, token, MIB, MIB, 1, disable_comment=True)
        assert ok.status_code == 200
        private = ["SELF_ONLY"]
        await client.post(
            f"{ctl}/creator", json={"account": "alice", "privacy_level_options": private}
        )
        mismatch = await init(client, token, MIB, MIB, 1, disable_comment=True)
        assert mismatch.status_code == 403 and error_of(mismatch) == "privacy_level_option_mismatch"
        long = await init(client, token, MIB, MIB, 1, privacy="SELF_ONLY", title="😀" * 1101)
        assert long.status_code == 400 and error_of(long) == "invalid_params"
        await client.post(f"{ctl}/daily_cap", json={"cap": 0})
        capped = await init(client, token, MIB, MIB, 1, privacy="SELF_ONLY", disable_comment=True)
        assert capped.status_code == 403 and error_of(capped) == "spam_risk_too_many_posts"
        creator = await client.post(f"{API}/creator_info/query/", headers=auth(token))
        assert creator.status_code == 403 and error_of(creator) == "spam_risk_too_many_posts"
        await init(client, token, MIB, MIB, 1)  # the sixth init this minute
        again = await init(client, token, MIB, MIB, 1)
        assert again.status_code == 429 and error_of(again) == "rate_limit_exceeded"  # 6/min

    run(scenario, tmp_path)


def test_chunks_are_checked_stored_in_order_and_published_after_processing(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        data = os.urandom(11 * MIB)
        size, chunk = len(data), 5 * MIB  # two chunks: 5 MiB and 6 MiB
        made = (await init(client, token, size, chunk, 2)).json()["data"]
        url, publish_id = made["upload_url"], made["publish_id"]
        wrong_type = await put(client, url, data[:chunk], 0, size, kind="application/json")
        assert wrong_type.status_code == 400
        not_a_chunk = await put(client, url, data[: chunk - 16], 0, size)
        assert not_a_chunk.status_code == 416
        out_of_order = await put(client, url, data[chunk:], chunk, size)
        assert out_of_order.status_code == 416
        wrong_total = await client.put(
            url,
            content=data[:chunk],
            headers={
                "Content-Type": "video/mp4",
                "Content-Range": f"bytes 0-{chunk - 1}/{size + 1}",
            },
        )
        assert wrong_total.status_code == 400
        assert (await put(client, url, data[:chunk], 0, size)).status_code == 206
        mid = await status(client, token, publish_id)
        assert (mid["status"], mid["uploaded_bytes"]) == ("PROCESSING_UPLOAD", chunk)
        assert (await put(client, url, data[:chunk], 0, size)).status_code == 206  # held: resent
        assert (await put(client, url, data[chunk:], chunk, size)).status_code == 201
        assert (await status(client, token, publish_id))["status"] == "PROCESSING_UPLOAD"

        async def complete() -> bool:
            return (await status(client, token, publish_id))["status"] == "PUBLISH_COMPLETE"

        await wait_for(complete)
        done = await status(client, token, publish_id)
        [post] = (await client.get("/_emulator/posts")).json()
        assert done["publicaly_available_post_id"] == [post["id"]]
        assert post["sha256"] == hashlib.sha256(data).hexdigest() and post["bytes"] == size
        assert post["platform"] == "tiktok" and post["account"] == "alice"
        assert post["caption"] == post["title"] == "a clip #tiktok" and post["created_at"]
        [publish] = (await client.get("/_emulator/tiktok/publishes")).json()
        assert publish["chunks_received"] == [0, 1] and publish["chunks_resent"] == [0]
        assert publish["access_token"] == token

    run(scenario, tmp_path)


def test_an_expired_upload_url_refuses_chunks_and_keeps_the_publish(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        made = (await init(client, token, MIB, MIB, 1)).json()["data"]
        await client.post("/_emulator/tiktok/expire_upload_urls")
        refused = await put(client, made["upload_url"], b"x" * MIB, 0, MIB)
        assert refused.status_code == 403 and error_of(refused) == "upload_url_expired"
        st = await status(client, token, made["publish_id"])
        assert (st["status"], st["uploaded_bytes"]) == ("PROCESSING_UPLOAD", 0)
        await client.post("/_emulator/expire_uploads", json={"platform": "tiktok"})
        gone = await client.post(
            f"{API}/status/fetch/", json={"publish_id": made["publish_id"]}, headers=auth(token)
        )
        assert gone.status_code == 400 and error_of(gone) == "invalid_publish_id"

    run(scenario, tmp_path)


def test_processing_failure_self_only_posts_and_other_accounts(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        bob, _ = await login(client, "bob")
        await client.post(
            "/_emulator/tiktok/fail_processing", json={"fail_reason": "frame_rate_check_failed"}
        )
        failed = (await init(client, token, MIB, MIB, 1)).json()["data"]
        assert (await put(client, failed["upload_url"], b"a" * MIB, 0, MIB)).status_code == 201
        st = await status(client, token, failed["publish_id"])
        assert (st["status"], st["fail_reason"]) == ("FAILED", "frame_rate_check_failed")
        private = (await init(client, token, MIB, MIB, 1, privacy="SELF_ONLY")).json()["data"]
        await put(client, private["upload_url"], b"b" * MIB, 0, MIB)

        async def complete() -> bool:
            return (await status(client, token, private["publish_id"]))[
                "status"
            ] == "PUBLISH_COMPLETE"

        await wait_for(complete)
        assert (await status(client, token, private["publish_id"]))[
            "publicaly_available_post_id"
        ] == []
        [post] = (await client.get("/_emulator/posts")).json()
        assert post["id"] == private["publish_id"]
        foreign = await client.post(
            f"{API}/status/fetch/", json={"publish_id": private["publish_id"]}, headers=auth(bob)
        )
        assert foreign.status_code == 400 and error_of(foreign) == "invalid_publish_id"

    run(scenario, tmp_path)


def test_faults_target_tiktok_steps_in_tiktoks_envelope(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        rule = {"platform": "tiktok", "step": "init", "action": "status", "code": 503}
        assert (await client.post("/_emulator/faults", json=rule)).status_code == 200
        resp = await init(client, token, MIB, MIB, 1)
        assert resp.status_code == 503 and error_of(resp) == "internal_error"
        bad = {"platform": "tiktok", "step": "publish", "action": "drop"}
        assert (await client.post("/_emulator/faults", json=bad)).status_code == 400

    run(scenario, tmp_path)


def test_reset_forgets_publishes_and_settings(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        token, _ = await login(client)
        await client.post("/_emulator/tiktok/daily_cap", json={"cap": 0})
        assert (await init(client, token, MIB, MIB, 1)).status_code == 403
        assert (await client.post("/_emulator/reset")).status_code == 200
        assert (await client.get("/_emulator/tiktok/publishes")).json() == []
        token, _ = await login(client)
        assert (await init(client, token, MIB, MIB, 1)).status_code == 200  # the cap is back
        unknown = await client.post("/_emulator/tiktok/nothing", json={})
        assert unknown.status_code == 404

    run(scenario, tmp_path)
