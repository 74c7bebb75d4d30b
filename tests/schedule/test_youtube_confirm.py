"""A natively scheduled YouTube post is confirmed only once YouTube shows it public: its status
(``privacyStatus`` + ``publishAt``) tells scheduled from published (ADR 0015). The emulator turns
a scheduled video public at its ``publishAt`` by its own (real) clock; the pipeline runs on the
fake clock, so the test can stand after the publish time while YouTube still holds the video."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from atroposd.domain import PostState
from tests.schedule.scheduler_support import jump_to
from tests.unit.pipeline_support import Rig, Run, real_clip, runner

S = PostState


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return runner(tmp_path, real_clip(tmp_path / "media", seed=83))


def test_a_scheduled_video_still_private_after_its_time_is_not_recorded_published(
    run: Run,
) -> None:
    async def scenario(r: Rig) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        jump_to(r, now)
        (post,) = r.plan("later", ("youtube",))
        at = now + timedelta(hours=3)  # ahead by both clocks: YouTube holds it private
        r.ledger.set_fields(post.id, publish_at=at)
        r.publisher.kick(post.id)
        await r.publisher.drain()
        assert r.get(post.id).state is S.SCHEDULED
        # By our clock its time has passed; YouTube (the emulator's clock) has not published it.
        jump_to(r, at + timedelta(minutes=2))
        r.publisher.kick(post.id)
        # The worker asks again and again (each wait moves the fake clock): ten minutes of it.
        deadline = time.monotonic() + 60
        while r.clock.now() < at + timedelta(minutes=12) and post.id in r.publisher.busy:
            assert time.monotonic() < deadline, "the worker stopped asking"
            await asyncio.sleep(0.01)
        if (task := r.publisher.workers.get(post.id)) is not None:
            task.cancel()
        await r.publisher.drain()
        done = r.get(post.id)
        assert r.ledger.entered_at(post.id, S.PUBLISHED) is None, done
        assert done.state is S.SCHEDULED  # asked again later (confirm job, sweep)

    run(scenario)


def test_a_scheduled_video_made_public_is_confirmed(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        # The pipeline's clock stands days before YouTube's (the emulator's real clock): the
        # video is scheduled for the pipeline and already public for YouTube at the confirm.
        jump_to(r, datetime(2026, 3, 2, 6, tzinfo=UTC))
        (post,) = r.plan("soon", ("youtube",))
        at = datetime(2026, 3, 2, 18, tzinfo=UTC)
        r.ledger.set_fields(post.id, publish_at=at)
        r.publisher.kick(post.id)
        await r.publisher.drain()
        assert r.get(post.id).state is S.SCHEDULED
        jump_to(r, at + timedelta(minutes=2))
        r.publisher.kick(post.id)
        await r.publisher.drain()
        assert r.get(post.id).state is S.PUBLISHED

    run(scenario)
