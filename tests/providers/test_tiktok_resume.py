"""TikTok's upload URL and resume rules: ``status/fetch`` before anything is sent again, and a
new ``init`` only when the old publish provably cannot become a post (docs/adr/0008).

The real provider against the real emulator over loopback (``harness.run``); the provider's
own clock is moved where the upload URL's hour matters.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from atroposd.errors import OutcomeUnknown, PermanentError, TransientError
from atroposd.providers import REGISTRY
from tests.providers.harness import Harness, context
from tests.providers.tiktok_support import (
    CHUNK,
    INIT,
    STATUS,
    TIKTOK,
    calls,
    control,
    go,
    publishes,
    two_chunk_media,
)
from tests.support import Emulator
from tests.unit.support import FakeClock


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_chunk_media(tmp_path_factory.mktemp("tiktok-resume") / "clip.mp4")


def test_resume_asks_status_before_sending_anything(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("media", "drop", nth=2)
        with pytest.raises(TransientError):
            await h.upload()
        ref = h.refs[-1]
        assert {"publish_id", "upload_url"} <= set(ref.data), ref
        sent = len(h.sent)
        result = await h.upload(resume=ref)
        after = [str(r.url) for r in h.sent[sent:]]
        assert STATUS in after[0] or "oauth/token" in after[0], after
        assert STATUS in next(u for u in after if "oauth/token" not in u), after
        assert result.resumed_from == CHUNK
        [publish] = await publishes(h)
        assert publish["chunks_received"] == [0, 1] and publish["chunks_resent"] == []

    go(emulator, media, scenario)


def test_expired_upload_url_inits_again_only_because_the_old_publish_cannot_post(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        expired: list[bool] = []

        def expire_after_first_chunk(done: int, total: int) -> None:
            if not expired and 0 < done < total:
                expired.append(True)
                h.emulator.http.post("/_emulator/tiktok/expire_upload_urls").raise_for_status()

        result = await h.upload(progress=expire_after_first_chunk)
        assert expired and result.resumed_from == 0
        old, new = await publishes(h)
        assert old["uploaded_bytes"] == CHUNK and not old["completed"], old
        assert new["completed"] and new["chunks_received"] == [0, 1], new
        assert [r.data["publish_id"] for r in h.refs][-1] == new["publish_id"]
        done = await h.follow(result)
        [post] = await h.posts()
        assert post["id"] == done.remote_id

    go(emulator, media, scenario)


def test_expired_upload_url_after_every_byte_arrived_never_inits_again(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("commit", "commit_then_drop")  # the last chunk lands, its answer is lost
        with pytest.raises(TransientError):
            await h.upload()
        await control(h, "expire_upload_urls")
        result = await h.upload(resume=h.refs[-1])
        assert result.resumed_from == h.request.size
        assert calls(h, INIT) == 1, "a second init for a video TikTok already had"
        await h.follow(result)
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_a_publish_tiktok_forgot_after_its_last_chunk_went_out_is_never_inited_again(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("commit", "drop")  # the last chunk went out; what became of it is unknown
        with pytest.raises(TransientError):
            await h.upload()
        forgotten = {"data": {}, "error": {"code": "invalid_publish_id", "message": "gone"}}
        await h.fault("query", "status", code=400, body=forgotten)
        with pytest.raises(OutcomeUnknown):
            await h.upload(resume=h.refs[-1])
        assert calls(h, INIT) == 1, "a second init could post the video twice"

    go(emulator, media, scenario)


def test_a_forgotten_publish_whose_last_chunk_went_out_stays_unknown_after_its_hour(
    emulator: Emulator, media: Path
) -> None:
    """The upload URL being past its hour says nothing about whether the last chunk, sent
    before it expired, arrived: TikTok not knowing the publish is still an unknown outcome."""

    async def scenario(h: Harness) -> None:
        clock = FakeClock(datetime.now(UTC))
        async with httpx.AsyncClient(timeout=10.0) as http:
            ctx = dataclasses.replace(context(TIKTOK, h.emulator.url, http, h.creds), clock=clock)
            provider = REGISTRY["tiktok"](ctx)
            await h.fault("commit", "drop")  # the last chunk went out; its fate is unknown
            with pytest.raises(TransientError):
                await provider.upload(h.request, None, h.save_ref)
            clock.advance(3600)  # the daemon was down past the upload URL's hour
            forgotten = {"data": {}, "error": {"code": "invalid_publish_id", "message": "gone"}}
            await h.fault("query", "status", code=400, body=forgotten)
            with pytest.raises(OutcomeUnknown):
                await provider.upload(h.request, h.refs[-1], h.save_ref)
        assert len(await publishes(h)) == 1, "a second init could post the video twice"
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_upload_url_lifetime_comes_from_init(emulator: Emulator, media: Path) -> None:
    """An upload URL TikTok expires before its hour (or a slow clock) is still handled."""

    async def scenario(h: Harness) -> None:
        await control(h, "upload_url_ttl", seconds=0)
        with pytest.raises(PermanentError) as info:
            await h.upload()
        assert info.value.code == "upload_refused"
        assert calls(h, INIT) == 2, "a refused URL is retried with one new init, not forever"
        assert all(p["uploaded_bytes"] == 0 for p in await publishes(h))
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_an_upload_url_past_its_hour_is_not_used(emulator: Emulator, media: Path) -> None:
    """By the provider's own clock: status/fetch first, a new init only as bytes are missing."""

    async def scenario(h: Harness) -> None:
        clock = FakeClock(datetime.now(UTC))
        async with httpx.AsyncClient(timeout=10.0) as http:
            ctx = dataclasses.replace(context(TIKTOK, h.emulator.url, http, h.creds), clock=clock)
            provider = REGISTRY["tiktok"](ctx)
            hour: list[bool] = []

            def an_hour_later(done: int, total: int) -> None:
                if not hour and 0 < done < total:
                    hour.append(True)
                    clock.advance(3600)

            result = await provider.upload(h.request, None, h.save_ref, an_hour_later)
        old, new = await publishes(h)
        assert old["chunks_received"] == [0] and not old["completed"], old
        assert new["chunks_received"] == [0, 1] and new["completed"], new
        assert result.ref is not None and result.ref.data["publish_id"] == new["publish_id"]

    go(emulator, media, scenario)


def test_a_link_too_slow_for_the_upload_urls_hour_fails_saying_so(
    emulator: Emulator, media: Path
) -> None:
    """Each upload outlives its URL's hour (by the provider's clock): after one new init the
    post fails naming the cause, not as if TikTok had refused the chunks."""

    async def scenario(h: Harness) -> None:
        clock = FakeClock(datetime.now(UTC))
        async with httpx.AsyncClient(timeout=10.0) as http:
            ctx = dataclasses.replace(context(TIKTOK, h.emulator.url, http, h.creds), clock=clock)
            provider = REGISTRY["tiktok"](ctx)

            def an_hour_per_chunk(done: int, total: int) -> None:
                if 0 < done < total:
                    clock.advance(3600)

            with pytest.raises(PermanentError) as info:
                await provider.upload(h.request, None, h.save_ref, an_hour_per_chunk)
        assert info.value.code == "upload_too_slow" and "one hour" in str(info.value)
        assert [p["completed"] for p in await publishes(h)] == [False, False]
        assert await h.posts() == []

    go(emulator, media, scenario)
