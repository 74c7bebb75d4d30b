"""A ``publish_at`` Facebook cannot schedule (less than 10 minutes ahead) is held until its time:
the reel is neither published early nor sent as a schedule Facebook refuses (a permanent error).

The provider runs on a clock the test moves (Facebook's, in the emulator, is the real one), so
"five minutes later" takes no time; real HTTP to the emulator over loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.errors import PermanentError, TransientError
from atroposd.providers.base import RemotePhase, RemoteRef
from atroposd.providers.facebook import FacebookProvider, build
from tests.providers.harness import ACCOUNT, MemoryCredentials, context, default_media, make_request
from tests.providers.test_facebook_conformance import FACEBOOK
from tests.support import Emulator
from tests.unit.support import FakeClock

Scenario = Callable[[FacebookProvider, FakeClock, httpx.AsyncClient], Awaitable[None]]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("facebook-schedule") / "clip.mp4")


def run(emulator: Emulator, clock: FakeClock, scenario: Scenario) -> None:
    async def main() -> None:
        creds = MemoryCredentials("facebook", {ACCOUNT: FACEBOOK.credentials(ACCOUNT)})
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
            ctl = await stack.enter_async_context(
                httpx.AsyncClient(base_url=emulator.url, timeout=10.0)
            )
            ctx = replace(context(FACEBOOK, emulator.url, http, creds), clock=clock)
            await scenario(build(ctx), clock, ctl)

    asyncio.run(main())


async def reels(ctl: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await ctl.get("/_emulator/facebook/reels")).raise_for_status().json())


@pytest.mark.parametrize(
    ("lead_s", "skew_s"),
    [
        (300, 0),  # five minutes ahead: Facebook cannot schedule it
        (600, 5),  # exactly ten minutes by our clock, which runs 5 s behind Facebook's
    ],
    ids=["five-minutes", "ten-minutes-with-a-slow-clock"],
)
def test_a_publish_at_too_near_to_schedule_is_held_until_its_time(
    emulator: Emulator, media: Path, lead_s: int, skew_s: int
) -> None:
    clock = FakeClock(datetime.now(UTC) - timedelta(seconds=skew_s))
    when = clock.now() + timedelta(seconds=lead_s)

    async def scenario(fb: FacebookProvider, clock: FakeClock, ctl: httpx.AsyncClient) -> None:
        request = replace(make_request(media), publish_at=when)
        saved: list[RemoteRef] = []

        async def save(ref: RemoteRef) -> None:
            saved.append(ref)

        result = await fb.upload(request, None, save)
        assert result.ref is not None
        held = await fb.status(ACCOUNT, result.ref)
        assert held.phase is RemotePhase.PROCESSING, "READY lets finish go out before its time"
        with pytest.raises(TransientError) as info:  # a finish sent anyway is not sent
            await fb.publish(request, result.ref, save)
        assert not isinstance(info.value, PermanentError)
        assert 0 < (info.value.retry_after or 0) <= lead_s
        [reel] = await reels(ctl)
        assert reel["video_state"] is None and reel["posts"] == 0, reel

        clock.advance(lead_s + 1)  # its time has come
        assert (await fb.status(ACCOUNT, result.ref)).phase is RemotePhase.READY
        await fb.publish(request, result.ref, save)
        [reel] = await reels(ctl)
        assert reel["video_state"] == "PUBLISHED" and reel["posts"] == 1, reel

    run(emulator, clock, scenario)


def test_a_publish_at_already_past_goes_out_at_once(emulator: Emulator, media: Path) -> None:
    """After a long wait (the daemon was down), a publish_at in the past publishes now."""
    clock = FakeClock(datetime.now(UTC))

    async def scenario(fb: FacebookProvider, clock: FakeClock, ctl: httpx.AsyncClient) -> None:
        request = replace(make_request(media), publish_at=clock.now() + timedelta(minutes=3))

        async def save(ref: RemoteRef) -> None:
            return None

        result = await fb.upload(request, None, save)
        assert result.ref is not None
        clock.advance(3600)
        assert (await fb.status(ACCOUNT, result.ref)).phase is RemotePhase.READY
        await fb.publish(request, result.ref, save)
        [reel] = await reels(ctl)
        assert reel["video_state"] == "PUBLISHED", reel

    run(emulator, clock, scenario)
