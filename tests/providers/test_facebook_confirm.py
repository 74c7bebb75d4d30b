"""A natively scheduled reel (ADR 0015) is confirmed only once Facebook shows it published: a reel
Facebook still shows ``scheduled`` after its time is not published yet (``status`` answers
processing: asked again, then a human), in its status and in the Page's reels alike.

Clocks: the provider runs on the pipeline's own fake clock (``x_support.run_x``), which the
publisher moves when a post waits; Facebook (the emulator) lives on its own clock, the real one,
moved ahead only by its control. So the pipeline can stand after a reel's publish time while
Facebook has not reached it, or both can pass it. Real provider, real emulator over loopback,
the daemon's publisher on a real ledger.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from atroposd.domain import Attention, Post, PostState
from atroposd.providers.base import RemotePhase, RemoteRef
from tests.providers.harness import ACCOUNT, Harness, Scenario, default_media, make_request
from tests.providers.test_facebook_conformance import FACEBOOK
from tests.providers.x_support import run_x
from tests.support import Emulator

S = PostState


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("facebook-confirm") / "clip.mp4")


def go(emulator: Emulator, media: Path, scenario: Scenario, deadline_s: float = 15.0) -> None:
    binding = replace(FACEBOOK, publish_deadline_s=deadline_s)
    run_x(binding, emulator, make_request(media), scenario)


async def fb(h: Harness, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    resp = await h.ctl.request(method, f"/_emulator/facebook/{path}", json=body)
    resp.raise_for_status()
    return resp.json()


async def scheduled(h: Harness, when: datetime) -> Post:
    """Post the clip with a ``publish_at`` until Facebook holds it for that time."""
    planned = h.pipeline.plan(h.request, "facebook")
    h.pipeline.ledger.set_fields(planned.id, publish_at=when)
    deadline = time.monotonic() + 15
    while True:
        await h.pipeline.publisher.work(planned.id)
        post = h.pipeline.ledger.get(planned.id)
        assert post is not None and post.state not in (S.PUBLISHED, S.FAILED), post
        if post.state is S.SCHEDULED:
            return post
        if post.retry_at is not None and post.retry_at > h.pipeline.clock.now():
            h.pipeline.clock.advance((post.retry_at - h.pipeline.clock.now()).total_seconds())
        assert time.monotonic() < deadline, h.pipeline.ledger.history(planned.id)


def to_confirm(h: Harness, post: Post) -> RemoteRef:
    """Our clock reaches the post's confirm time (Facebook's does not move); its handle."""
    assert post.retry_at is not None and post.remote_ref is not None
    h.pipeline.clock.advance((post.retry_at - h.pipeline.clock.now()).total_seconds())
    return RemoteRef.from_json(post.remote_ref)


def status_reads(h: Harness) -> int:
    """``GET /{video_id}?fields=status`` requests the provider sent so far."""
    return sum(1 for r in h.sent if r.method == "GET" and r.url.params.get("fields") == "status")


def two_hours_ahead() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)


def test_a_reel_still_scheduled_after_its_time_is_asked_again_never_recorded_published(
    emulator: Emulator, media: Path
) -> None:
    when = two_hours_ahead()

    async def scenario(h: Harness) -> None:
        post = await scheduled(h, when)
        assert post.retry_at == when + timedelta(seconds=60)
        ref = to_confirm(h, post)
        assert (await h.provider.status(ACCOUNT, ref)).phase is RemotePhase.PROCESSING
        before = status_reads(h)
        done = await h.pipeline.drive(post.id, 15.0)
        history = h.pipeline.ledger.history(post.id)
        assert h.pipeline.ledger.entered_at(post.id, S.PUBLISHED) is None, history
        # Asked again (with backoff) until the follow deadline, then a human is asked.
        assert status_reads(h) - before >= 2, status_reads(h) - before
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.STUCK, done
        assert "still scheduled on the platform" in (done.last_error or ""), done.last_error
        [reel] = await fb(h, "GET", "reels")
        assert reel["status"]["publishing_phase"]["publish_status"] == "scheduled"

    # The follow deadline ends one second of (fake) polling after the confirm time.
    go(emulator, media, scenario, deadline_s=61.0)


def test_a_scheduled_reel_is_confirmed_once_facebook_publishes_it_at_its_time(
    emulator: Emulator, media: Path
) -> None:
    when = two_hours_ahead()

    async def scenario(h: Harness) -> None:
        post = await scheduled(h, when)
        [reel] = await fb(h, "GET", "reels")
        assert reel["video_state"] == "SCHEDULED"
        assert reel["scheduled_publish_time"] == when.timestamp()
        assert reel["status"]["publishing_phase"]["publish_status"] == "scheduled"
        ahead = (when - datetime.now(UTC)).total_seconds()
        await fb(h, "POST", "clock", {"advance_seconds": ahead - 600})  # 10 min before
        [reel] = await fb(h, "GET", "reels")
        assert reel["status"]["publishing_phase"]["publish_status"] == "scheduled"
        await fb(h, "POST", "clock", {"advance_seconds": 1200})  # Facebook's clock passes it
        [reel] = await fb(h, "GET", "reels")
        assert reel["status"]["publishing_phase"]["publish_status"] == "published"
        to_confirm(h, post)
        done = await h.pipeline.drive(post.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_the_pages_reels_showing_it_scheduled_after_its_time_read_processing(
    emulator: Emulator, media: Path
) -> None:
    """The reel's own status shows no publishing (Facebook's answer can lag): the Page's reels
    decide. Scheduled there with its time past and not published: processing, never READY
    (a second ``finish``) nor published; published there: published."""
    when = two_hours_ahead()
    ready = {
        "id": "x",
        "status": {
            "video_status": "ready",
            "uploading_phase": {"status": "complete"},
            "processing_phase": {"status": "complete"},
            "publishing_phase": {"status": "not_started"},
        },
    }

    async def scenario(h: Harness) -> None:
        ref = to_confirm(h, await scheduled(h, when))
        rule = {"platform": "facebook", "step": "status", "action": "status", "code": 200}
        rules = [{**rule, "body": ready, "times": 2}]
        (await h.ctl.post("/_emulator/faults", json=rules)).raise_for_status()
        assert (await h.provider.status(ACCOUNT, ref)).phase is RemotePhase.PROCESSING
        await fb(h, "POST", "clock", {"advance_seconds": 3 * 3600})
        assert (await h.provider.status(ACCOUNT, ref)).phase is RemotePhase.PUBLISHED
        assert await h.faults_left() == []  # both answers were the lagging status

    go(emulator, media, scenario)
