"""The Facebook emulator speaks Graph's Page Reels protocol (providers.md §2, §4, §8.3)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.emulator import EmulatorServer

from .support import blob, faults, posts, run

PAGE = "102030405060708"
GRAPH = "/facebook/v26.0"


def oauth(tok: str) -> dict[str, str]:
    return {"Authorization": f"OAuth {tok}"}


async def user_token(client: httpx.AsyncClient, account: str = "alice") -> str:
    params = {
        "grant_type": "fb_exchange_token",
        "client_id": "app",
        "client_secret": "secret",
        "fb_exchange_token": f"sandbox:{account}:login",
    }
    resp = await client.get(f"{GRAPH}/oauth/access_token", params=params)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def page_token(client: httpx.AsyncClient, account: str = "alice", page: str = PAGE) -> str:
    resp = await client.get(
        f"{GRAPH}/{page}",
        params={"fields": "access_token"},
        headers=oauth(await user_token(client, account)),
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


async def start(client: httpx.AsyncClient, tok: str, page: str = PAGE) -> tuple[str, str]:
    resp = await client.post(
        f"{GRAPH}/{page}/video_reels", data={"upload_phase": "start"}, headers=oauth(tok)
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["video_id"]), str(resp.json()["upload_url"])


async def send(
    client: httpx.AsyncClient, tok: str, url: str, data: bytes, offset: int, total: int
) -> httpx.Response:
    headers = {**oauth(tok), "offset": str(offset), "file_size": str(total)}
    return await client.post(url, content=data, headers=headers)


async def finish(
    client: httpx.AsyncClient, tok: str, video_id: str, page: str = PAGE, **extra: str
) -> httpx.Response:
    form = {"upload_phase": "finish", "video_id": video_id, "video_state": "PUBLISHED"}
    form.update({"description": "A reel #shorts", "title": "Reel"}, **extra)
    return await client.post(f"{GRAPH}/{page}/video_reels", data=form, headers=oauth(tok))


async def status(client: httpx.AsyncClient, tok: str, video_id: str) -> dict[str, Any]:
    resp = await client.get(f"{GRAPH}/{video_id}", params={"fields": "status"}, headers=oauth(tok))
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["status"])


async def uploaded(client: httpx.AsyncClient, tok: str, data: bytes) -> str:
    """A reel whose bytes are all stored, processed (no finish yet)."""
    video_id, url = await start(client, tok)
    assert (await send(client, tok, url, data, 0, len(data))).status_code == 200
    await processed(client, tok, video_id)
    return video_id


async def processed(client: httpx.AsyncClient, tok: str, video_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while (st := await status(client, tok, video_id))["processing_phase"]["status"] in (
        "not_started",
        "in_progress",
    ):
        assert time.monotonic() < deadline, st
    return st


async def control(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    resp = await client.post(f"/_emulator/facebook/{path}", json=body)
    assert resp.status_code == 200, resp.text


def test_a_reel_goes_start_upload_finish_into_one_post(tmp_path: Path) -> None:
    data = blob(300_000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        video_id, url = await start(client, tok)
        assert url == f"{server.base_url}/facebook/video-upload/v26.0/{video_id}"
        assert (await send(client, tok, url, data[:100_000], 0, len(data))).status_code == 200
        st = await status(client, tok, video_id)
        assert st["uploading_phase"] == {"status": "in_progress", "bytes_transferred": 100_000}
        assert st["video_status"] == "uploading"
        resp = await send(client, tok, url, data[100_000:], 100_000, len(data))
        assert resp.json() == {"success": True, "message": "Upload successful."}
        st = await processed(client, tok, video_id)
        assert st["video_status"] == "ready" and st["publishing_phase"] == {"status": "not_started"}
        assert await posts(client) == [], "processed is not published"
        resp = await finish(client, tok, video_id)
        assert resp.status_code == 200 and resp.json()["success"] is True, resp.text
        [post] = await posts(client)
        assert post["platform"] == "facebook" and post["id"] == video_id
        assert post["sha256"] == hashlib.sha256(data).hexdigest() and post["bytes"] == len(data)
        assert (post["account"], post["title"], post["caption"]) == (
            "alice",
            "Reel",
            "A reel #shorts",
        )
        publishing = (await status(client, tok, video_id))["publishing_phase"]
        assert publishing["status"] == "complete" and publishing["publish_status"] == "published"
        listed = (await client.get(f"{GRAPH}/{PAGE}/video_reels", headers=oauth(tok))).json()
        assert [(r["id"], r["published"]) for r in listed["data"]] == [(video_id, True)]

    run(scenario, tmp_path)


def test_the_upload_host_wants_the_held_offset_and_its_headers(tmp_path: Path) -> None:
    data = blob(10_000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        _, url = await start(client, tok)
        assert (await send(client, tok, url, data[:4000], 0, len(data))).status_code == 200
        again = await send(client, tok, url, data[:4000], 0, len(data))
        err = again.json()["error"]
        assert again.status_code == 400 and err["error_subcode"] == 1363037
        assert err["error_data"] == {"start_offset": 4000, "end_offset": 4000}
        bare = await client.post(url, content=b"x", headers=oauth(tok))
        info = bare.json()["debug_info"]
        assert bare.status_code == 400 and info["type"] == "ParameterValidationError"
        assert "Offset not convertable to unsigned long" in info["message"]
        held = await client.get(url, headers=oauth(tok))
        assert held.json() == {"offset": 4000, "file_size": len(data)}

    run(scenario, tmp_path)


def test_page_endpoints_want_that_pages_token(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        user = await user_token(client)
        resp = await client.post(
            f"{GRAPH}/{PAGE}/video_reels", data={"upload_phase": "start"}, headers=oauth(user)
        )
        assert resp.status_code == 400 and resp.json()["error"]["code"] == 190
        other = await page_token(client, page="999999999")
        resp = await client.post(
            f"{GRAPH}/{PAGE}/video_reels", data={"upload_phase": "start"}, headers=oauth(other)
        )
        assert resp.json()["error"]["code"] == 190
        tok = await page_token(client)
        await client.post("/_emulator/expire_tokens", json={"platform": "facebook"})
        resp = await client.post(
            f"{GRAPH}/{PAGE}/video_reels", data={"upload_phase": "start"}, headers=oauth(tok)
        )
        assert resp.json()["error"]["code"] == 190 and resp.json()["error"]["error_subcode"] == 463

    run(scenario, tmp_path)


def test_finish_refuses_what_facebook_refuses_and_a_second_finish_is_a_second_post(
    tmp_path: Path,
) -> None:
    data = blob(5000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        partial, url = await start(client, tok)
        await send(client, tok, url, data[:10], 0, len(data))
        missing = (await finish(client, tok, partial)).json()["error"]
        assert missing["code"] == 100 and "Video Upload Is Missing" in missing["message"]
        video_id = await uploaded(client, tok, data)
        bad = await finish(client, tok, video_id, video_state="LIVE")
        assert bad.json()["error"]["code"] == 100
        soon = str(int(time.time()) + 60)
        bad = await finish(
            client, tok, video_id, video_state="SCHEDULED", **{"scheduled_publish_time": soon}
        )
        assert bad.json()["error"]["code"] == 100 and await posts(client) == []
        assert (await finish(client, tok, video_id)).status_code == 200
        assert (await finish(client, tok, video_id)).status_code == 200
        assert [p["id"] for p in await posts(client)] == [video_id, video_id]

    run(scenario, tmp_path)


def test_a_scheduled_reel_is_published_by_facebook_at_its_time(tmp_path: Path) -> None:
    data = blob(5000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        video_id = await uploaded(client, tok, data)
        when = int(time.time()) + 3600
        resp = await finish(
            client, tok, video_id, video_state="SCHEDULED", scheduled_publish_time=str(when)
        )
        assert resp.status_code == 200, resp.text
        publishing = (await status(client, tok, video_id))["publishing_phase"]
        assert publishing["publish_status"] == "scheduled"
        assert publishing["publish_time"] == time.strftime(
            "%Y-%m-%dT%H:%M:%S+0000", time.gmtime(when)
        )
        listed = (await client.get(f"{GRAPH}/{PAGE}/video_reels", headers=oauth(tok))).json()
        assert listed["data"][0]["scheduled_publish_time"] == when
        await control(client, "clock", {"advance_seconds": 3601})
        publishing = (await status(client, tok, video_id))["publishing_phase"]
        assert publishing["publish_status"] == "published"

    run(scenario, tmp_path)


def test_the_page_cap_refuses_with_code_9_and_when_it_frees(tmp_path: Path) -> None:
    data = blob(5000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        await control(client, "reels_cap", {"limit": 1})
        first, second = await uploaded(client, tok, data), await uploaded(client, tok, data)
        assert (await finish(client, tok, first)).status_code == 200
        refused = await finish(client, tok, second)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 9
        usage = json.loads(refused.headers["x-business-use-case-usage"])
        assert usage[PAGE][0]["estimated_time_to_regain_access"] == 24 * 60
        await control(client, "clock", {"advance_seconds": 24 * 3600})
        assert (await finish(client, tok, second)).status_code == 200
        assert len(await posts(client)) == 2

    run(scenario, tmp_path)


def test_a_queued_processing_error_fails_the_reel_with_its_reason(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        await control(client, "processing_errors", {"code": 1363008, "message": "Bad codec"})
        video_id = await uploaded(client, tok, blob(5000))
        st = await status(client, tok, video_id)
        assert st["video_status"] == "error"
        assert st["processing_phase"] == {
            "status": "error",
            "errors": [{"code": 1363008, "message": "Bad codec"}],
        }

    run(scenario, tmp_path)


@pytest.mark.parametrize("step", ["start", "finish", "status", "list", "page"])
def test_faults_answer_in_graphs_envelope_on_every_step(tmp_path: Path, step: str) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        video_id = await uploaded(client, tok, blob(5000))
        await faults(
            client, {"platform": "facebook", "step": step, "action": "status", "code": 429}
        )
        calls = {
            "start": lambda: client.post(
                f"{GRAPH}/{PAGE}/video_reels", data={"upload_phase": "start"}, headers=oauth(tok)
            ),
            "finish": lambda: finish(client, tok, video_id),
            "status": lambda: client.get(
                f"{GRAPH}/{video_id}", params={"fields": "status"}, headers=oauth(tok)
            ),
            "list": lambda: client.get(f"{GRAPH}/{PAGE}/video_reels", headers=oauth(tok)),
            "page": lambda: client.get(
                f"{GRAPH}/{PAGE}", params={"fields": "access_token"}, headers=oauth(tok)
            ),
        }
        resp = await calls[step]()
        assert resp.status_code == 429 and resp.json()["error"]["code"] == 4
        assert await posts(client) == []

    run(scenario, tmp_path)


def test_unknown_and_expired_reels_do_not_exist(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        video_id, url = await start(client, tok)
        await send(client, tok, url, b"x" * 100, 0, 5000)
        await client.post("/_emulator/expire_uploads", json={"platform": "facebook"})
        for vid in (video_id, "1234567890"):
            resp = await client.get(
                f"{GRAPH}/{vid}", params={"fields": "status"}, headers=oauth(tok)
            )
            err = resp.json()["error"]
            assert (resp.status_code, err["code"], err["error_subcode"]) == (400, 100, 33)
        assert (await send(client, tok, url, b"x", 100, 5000)).status_code == 404

    run(scenario, tmp_path)


def test_an_unfinished_reel_lapses_and_its_finish_is_refused(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        kept = await uploaded(client, tok, b"k" * 2048)
        assert (await finish(client, tok, kept)).status_code == 200
        lapsing = await uploaded(client, tok, b"l" * 2048)
        resp = await client.post("/_emulator/facebook/expire_reels")
        assert resp.json() == {"expired": 1}, "only the reel never finished lapses"
        lapsed = await status(client, tok, lapsing)
        assert lapsed["video_status"] == "expired", lapsed
        assert lapsed["publishing_phase"] == {"status": "not_started"}, lapsed
        assert (await status(client, tok, kept))["video_status"] == "ready"
        refused = await finish(client, tok, lapsing)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == 100
        assert len(await posts(client)) == 1

    run(scenario, tmp_path)


def test_graph_parameters_come_as_json_too_and_any_version_is_served(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await page_token(client)
        resp = await client.post(
            f"/facebook/v27.0/{PAGE}/video_reels",
            json={"upload_phase": "start"},
            headers=oauth(tok),
        )
        assert resp.status_code == 200, resp.text
        assert "/facebook/video-upload/v27.0/" in resp.json()["upload_url"]
        bad = await client.post(f"/facebook/v27/{PAGE}/video_reels", json={}, headers=oauth(tok))
        assert bad.status_code == 400 and bad.json()["error"]["code"] == 100

    run(scenario, tmp_path)


def test_a_sandbox_login_survives_an_emulator_restart(tmp_path: Path) -> None:
    """A restarted emulator forgot the tokens it issued. The daemon's stored token (exchanged
    from a sandbox login) is refused (190), then exchanged again, as the sandbox login was:
    sandbox has no login to redo (docs/operations.md). A revoked account stays refused."""

    async def main() -> None:
        first = EmulatorServer(port=0, storage_dir=tmp_path / "first")
        await first.start()
        async with httpx.AsyncClient(base_url=first.base_url, timeout=10) as client:
            stored = await user_token(client)
        await first.stop()

        second = EmulatorServer(port=0, storage_dir=tmp_path / "second")
        await second.start()
        try:
            async with httpx.AsyncClient(base_url=second.base_url, timeout=10) as client:
                params = {"fields": "access_token"}
                resp = await client.get(f"{GRAPH}/{PAGE}", params=params, headers=oauth(stored))
                assert resp.status_code == 400 and resp.json()["error"]["code"] == 190
                form = {
                    "grant_type": "fb_exchange_token",
                    "client_id": "app",
                    "client_secret": "secret",
                    "fb_exchange_token": stored,
                }
                resp = await client.post(f"{GRAPH}/oauth/access_token", data=form)
                assert resp.status_code == 200, resp.text
                fresh = resp.json()["access_token"]
                resp = await client.get(f"{GRAPH}/{PAGE}", params=params, headers=oauth(fresh))
                assert resp.status_code == 200, resp.text
                await start(client, resp.json()["access_token"])
                revoke = {"platform": "facebook", "account": "alice"}
                (await client.post("/_emulator/revoke", json=revoke)).raise_for_status()
                resp = await client.post(f"{GRAPH}/oauth/access_token", data=form)
                assert resp.status_code == 400 and resp.json()["error"]["code"] == 190
        finally:
            await second.stop()

    asyncio.run(main())
