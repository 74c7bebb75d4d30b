"""The two-step emulator speaks its protocol over real loopback HTTP (tests.support.Emulator)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.emulator import EmulatorServer
from tests.providers.twostep.emulator import TwoStep
from tests.support import Emulator, wait_for

TOKEN = "/twostep/oauth/token"
MEDIA = "/twostep/v1/media"


def grant(emu: Emulator, refresh: str = "sandbox:alice:first") -> httpx.Response:
    return emu.http.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh})


def bearer(emu: Emulator, account: str = "alice") -> dict[str, str]:
    resp = grant(emu, f"sandbox:{account}:x")
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def create(emu: Emulator, auth: dict[str, str], size: int, title: str = "Clip") -> dict[str, Any]:
    resp = emu.http.post(MEDIA, json={"size": size, "title": title}, headers=auth)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def put(
    emu: Emulator, auth: dict[str, str], url: str, data: bytes, first: int, total: int
) -> httpx.Response:
    headers = {**auth, "Content-Range": f"bytes {first}-{first + len(data) - 1}/{total}"}
    return emu.http.put(url, content=data, headers=headers)


def media(emu: Emulator, auth: dict[str, str], media_id: str) -> httpx.Response:
    return emu.http.get(f"{MEDIA}/{media_id}", headers=auth)


def publish(emu: Emulator, auth: dict[str, str], media_id: str, text: str) -> httpx.Response:
    return emu.http.post(f"{MEDIA}/{media_id}/publish", json={"text": text}, headers=auth)


def uploaded(emu: Emulator, auth: dict[str, str], data: bytes, title: str = "Clip") -> str:
    """A media item holding ``data``, once the platform says it is ready."""
    item = create(emu, auth, len(data), title)
    assert put(emu, auth, item["upload_url"], data, 0, len(data)).json() == {"offset": len(data)}
    wait_for(lambda: media(emu, auth, item["media_id"]).json()["state"] == "ready", 10, "ready")
    return str(item["media_id"])


def test_refresh_rotates_the_refresh_token_and_revoke_kills_all(emulator: Emulator) -> None:
    first = grant(emulator)
    body = first.json()
    assert first.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["refresh_token"].startswith("sandbox:alice:")
    assert body["refresh_token"] != "sandbox:alice:first"
    assert grant(emulator, body["refresh_token"]).status_code == 200  # the rotated one works
    emulator.control("revoke", {"platform": "twostep", "account": "alice"})
    for dead in ("sandbox:alice:first", body["refresh_token"]):
        resp = grant(emulator, dead)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert grant(emulator, "nonsense").json()["error"] == "invalid_grant"
    assert grant(emulator, "sandbox:bob:x").status_code == 200  # other accounts keep working
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    gone = emulator.http.post(MEDIA, json={"size": 1, "title": "t"}, headers=auth)
    assert gone.status_code == 401 and gone.json()["error"]["code"] == "invalid_token"


def test_expired_or_missing_token_is_invalid_token(emulator: Emulator) -> None:
    auth = bearer(emulator)
    item = create(emulator, auth, 10)
    emulator.control("expire_tokens", {"platform": "twostep"})
    for headers in (auth, {}):
        for resp in (
            emulator.http.post(MEDIA, json={"size": 1, "title": "t"}, headers=headers),
            put(emulator, headers, item["upload_url"], b"x" * 10, 0, 10),
            media(emulator, headers, item["media_id"]),
            publish(emulator, headers, item["media_id"], "t"),
        ):
            assert resp.status_code == 401, resp.text
            assert resp.json()["error"]["code"] == "invalid_token"


def test_empty_title_is_rejected_in_the_platform_words(emulator: Emulator) -> None:
    auth = bearer(emulator)
    for title in ("", "   "):
        resp = emulator.http.post(MEDIA, json={"size": 10, "title": title}, headers=auth)
        assert resp.status_code == 400
        assert resp.json() == {"error": {"code": "invalid_title", "message": "The title is empty."}}
    long = emulator.http.post(MEDIA, json={"size": 10, "title": "x" * 101}, headers=auth)
    assert long.status_code == 400 and long.json()["error"]["code"] == "invalid_title"
    zero = emulator.http.post(MEDIA, json={"size": 0, "title": "t"}, headers=auth)
    assert zero.status_code == 400 and zero.json()["error"]["code"] == "invalid_size"
    assert emulator.uploads() == []


def test_chunks_follow_offsets_then_media_processes_to_ready(emulator: Emulator) -> None:
    data = os.urandom(300_000)
    auth = bearer(emulator)
    item = create(emulator, auth, len(data))
    assert item["upload_url"].startswith(emulator.url + "/twostep/upload/")
    [upload] = emulator.uploads()
    assert (upload["platform"], upload["bytes_received"], upload["total"]) == (
        "twostep",
        0,
        300_000,
    )
    first = media(emulator, auth, item["media_id"]).json()
    assert (first["state"], first["offset"], first["post_id"]) == ("uploading", 0, None)
    url = item["upload_url"]
    assert put(emulator, auth, url, data[:100_000], 0, len(data)).json() == {"offset": 100_000}
    ahead = put(emulator, auth, url, data[200_000:], 200_000, len(data))
    assert ahead.status_code == 400 and ahead.json()["error"]["code"] == "invalid_range"
    # An overlapping chunk: the 50,000 bytes already stored are ignored, not stored twice.
    again = put(emulator, auth, url, data[50_000:200_000], 50_000, len(data))
    assert again.json() == {"offset": 200_000}
    assert media(emulator, auth, item["media_id"]).json()["offset"] == 200_000
    done = put(emulator, auth, url, data[200_000:], 200_000, len(data))
    assert done.status_code == 200 and done.json() == {"offset": len(data)}
    assert emulator.uploads() == [], "a complete media is no longer an upload in progress"
    states: list[str] = []

    def ready() -> bool:
        states.append(media(emulator, auth, item["media_id"]).json()["state"])
        return states[-1] == "ready"

    wait_for(ready, 10, "ready")
    assert set(states) <= {"processing", "ready"}, states
    replay = put(emulator, auth, url, data[200_000:], 200_000, len(data))
    assert replay.json() == {"offset": len(data)}
    post = publish(emulator, auth, item["media_id"], "Caption")
    [record] = emulator.posts()
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["bytes"] == len(data) and record["id"] == post.json()["post_id"]


def test_publish_posts_and_a_second_publish_posts_again(emulator: Emulator) -> None:
    data = os.urandom(5000)
    auth = bearer(emulator)
    media_id = uploaded(emulator, auth, data, title="My clip")
    assert emulator.posts() == []
    first = publish(emulator, auth, media_id, "First text #tag")
    assert first.status_code == 200
    post_id = first.json()["post_id"]
    status = media(emulator, auth, media_id).json()
    assert (status["state"], status["post_id"]) == ("published", post_id)
    [post] = emulator.posts()
    assert post["platform"] == "twostep" and post["account"] == "alice"
    assert (post["id"], post["title"], post["caption"]) == (post_id, "My clip", "First text #tag")
    assert post["sha256"] == hashlib.sha256(data).hexdigest() and post["bytes"] == len(data)
    # The hazard the pipeline must avoid: the platform does not refuse a second publish.
    second = publish(emulator, auth, media_id, "First text #tag")
    assert second.status_code == 200 and second.json()["post_id"] != post_id
    assert [p["id"] for p in emulator.posts()] == [post_id, second.json()["post_id"]]
    assert media(emulator, auth, media_id).json()["post_id"] == post_id


def test_publish_of_media_still_uploading_is_refused(emulator: Emulator) -> None:
    auth = bearer(emulator)
    item = create(emulator, auth, 100)
    put(emulator, auth, item["upload_url"], b"x" * 50, 0, 100)
    resp = publish(emulator, auth, item["media_id"], "text")
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_ready"
    too_long = publish(emulator, auth, uploaded(emulator, auth, b"y" * 10), "t" * 2201)
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "invalid_text"
    assert emulator.posts() == []


def test_publish_of_media_still_processing_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        slow = EmulatorServer(
            port=0,
            storage_dir=tmp_path / "slow",
            extra_platforms=[lambda ctx: TwoStep(ctx, processing_seconds=3600.0)],
        )
        await slow.start()
        try:
            async with httpx.AsyncClient(base_url=slow.base_url, timeout=10) as client:
                form = {"grant_type": "refresh_token", "refresh_token": "sandbox:alice:x"}
                tok = (await client.post(TOKEN, data=form)).json()["access_token"]
                auth = {"Authorization": f"Bearer {tok}"}
                item = await client.post(MEDIA, json={"size": 3, "title": "t"}, headers=auth)
                body = item.json()
                headers = {**auth, "Content-Range": "bytes 0-2/3"}
                await client.put(body["upload_url"], content=b"abc", headers=headers)
                url = f"{MEDIA}/{body['media_id']}"
                assert (await client.get(url, headers=auth)).json()["state"] == "processing"
                resp = await client.post(f"{url}/publish", json={"text": "t"}, headers=auth)
                assert resp.status_code == 409 and resp.json()["error"]["code"] == "not_ready"
                assert (await client.get("/_emulator/posts")).json() == []
        finally:
            await slow.stop()

    asyncio.run(main())


def test_unknown_expired_or_foreign_media_is_not_found(emulator: Emulator) -> None:
    alice, bob = bearer(emulator), bearer(emulator, "bob")
    item = create(emulator, alice, 100)
    put(emulator, alice, item["upload_url"], b"x" * 40, 0, 100)
    done = uploaded(emulator, alice, b"z" * 10)
    for who, media_id in ((alice, "0000000000000000"), (bob, item["media_id"]), (bob, done)):
        resp = media(emulator, who, media_id)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
        assert publish(emulator, who, media_id, "t").status_code == 404
    assert put(emulator, bob, item["upload_url"], b"x" * 60, 40, 100).status_code == 404
    emulator.control("expire_uploads", {"platform": "twostep"})
    assert put(emulator, alice, item["upload_url"], b"x" * 60, 40, 100).status_code == 404
    assert media(emulator, alice, item["media_id"]).status_code == 404
    # A media that had all its bytes is no upload in progress: expiring uploads keeps it.
    assert media(emulator, alice, done).json()["state"] == "ready"
    assert emulator.posts() == []


def test_commit_then_drop_on_publish_posts_without_an_answer(emulator: Emulator) -> None:
    auth = bearer(emulator)
    media_id = uploaded(emulator, auth, b"q" * 1000)
    emulator.faults({"platform": "twostep", "step": "publish", "action": "commit_then_drop"})
    with pytest.raises(httpx.RemoteProtocolError):
        publish(emulator, auth, media_id, "text")
    [post] = emulator.posts()
    status = media(emulator, auth, media_id).json()
    assert (status["state"], status["post_id"]) == ("published", post["id"])


def test_commit_then_hang_on_publish_posts_while_the_client_waits(emulator: Emulator) -> None:
    auth = bearer(emulator)
    media_id = uploaded(emulator, auth, b"h" * 1000)
    rule = {"platform": "twostep", "step": "publish", "action": "commit_then_hang", "hold": 30}
    emulator.faults(rule)
    with pytest.raises(httpx.ReadTimeout):
        emulator.http.post(
            f"{MEDIA}/{media_id}/publish", json={"text": "t"}, headers=auth, timeout=0.5
        )
    [post] = wait_for(emulator.posts, 10, "the post")
    assert media(emulator, auth, media_id).json()["post_id"] == post["id"]


@pytest.mark.parametrize("step", ["token", "create", "chunk", "status", "publish"])
def test_throttling_and_outages_come_from_fault_rules(emulator: Emulator, step: str) -> None:
    auth = bearer(emulator)
    media_id = uploaded(emulator, auth, b"r" * 100)
    item = create(emulator, auth, 100)
    calls = {
        "token": lambda: grant(emulator),
        "create": lambda: emulator.http.post(MEDIA, json={"size": 9, "title": "t"}, headers=auth),
        "chunk": lambda: put(emulator, auth, item["upload_url"], b"c" * 100, 0, 100),
        "status": lambda: media(emulator, auth, media_id),
        "publish": lambda: publish(emulator, auth, media_id, "text"),
    }
    rule = {"platform": "twostep", "step": step, "action": "status"}
    emulator.faults(
        {**rule, "code": 429, "headers": {"Retry-After": "7"}}, {**rule, "nth": 2, "code": 503}
    )
    limited, down = calls[step](), calls[step]()
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["code"] == "rate_limited"
    assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable"
    assert calls[step]().status_code == 200, "the rules fire once each"
    assert emulator.fired()
