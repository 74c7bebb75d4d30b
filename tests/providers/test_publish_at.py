"""A clip scheduled for later on a platform that cannot schedule it itself (ADR 0013).

On the two-step platform through the daemon's publisher: the clip is uploaded and processed
early, the publish call waits for ``publish_at`` (nothing is posted before), then goes out once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from atroposd.domain import PostState
from tests.providers.harness import Harness, make_request, run
from tests.providers.pipeline import Pipeline
from tests.providers.test_twostep_conformance import TWOSTEP
from tests.support import Emulator

S = PostState
Drive = Callable[[Callable[[Harness], object]], None]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return TWOSTEP.make_media(tmp_path_factory.mktemp("publish-at") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    return lambda scenario: run(TWOSTEP, emulator, make_request(media), scenario)  # type: ignore[arg-type]


def publishes(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/publish"))


def test_publish_waits_for_publish_at_then_goes_out_once(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        when = (h.pipeline.clock.now() + timedelta(hours=2)).replace(microsecond=0)
        planned = h.pipeline.plan(replace(h.request, publish_at=when), "twostep")
        post = h.pipeline.ledger.get(planned.id)
        for _ in range(50):  # upload, then poll until the platform says ready and it is held
            await h.pipeline.publisher.work(planned.id)
            post = h.pipeline.ledger.get(planned.id)
            assert post is not None
            if post.retry_at == when:
                break
        assert post is not None and post.state is S.PROCESSING, post
        assert post.retry_at == when, "the publish was not held until publish_at"
        assert post.bytes_sent == h.request.size, "the upload should be done early"
        assert publishes(h) == 0 and await h.posts() == [], "posted before its time"
        done = await h.pipeline.drive(planned.id, 20.0)  # the clock reaches publish_at
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert h.pipeline.clock.now() >= when
        assert publishes(h) == 1 and len(await h.posts()) == 1

    drive(scenario)


def test_a_publish_at_already_past_publishes_at_once(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        when = h.pipeline.clock.now() - timedelta(minutes=5)
        planned = h.pipeline.plan(replace(h.request, publish_at=when), "twostep")
        done = await h.pipeline.drive(planned.id, 20.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1

    drive(scenario)


def test_a_hold_longer_than_the_deadline_survives_a_failing_status_at_its_time(
    drive: Drive,
) -> None:
    """Held for 8 h with a 6 h processing deadline, the first status at publish time fails
    (the network is not up yet): the post retries and publishes, it is not parked as stuck."""

    async def scenario(h: Harness) -> None:
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "d", deadline_s=6 * 3600.0)
        when = (h.pipeline.clock.now() + timedelta(hours=8)).replace(microsecond=0)
        planned = h.pipeline.plan(replace(h.request, publish_at=when), "twostep")
        for _ in range(50):
            await h.pipeline.publisher.work(planned.id)
            post = h.pipeline.ledger.get(planned.id)
            assert post is not None
            if post.retry_at == when:
                break
        await h.fault("poll", "status", code=503)  # the first look at publish time fails
        done = await h.pipeline.drive(planned.id, 20.0)
        assert done.state is S.PUBLISHED, (done.state, done.attention, done.last_error)
        assert publishes(h) == 1 and len(await h.posts()) == 1

    drive(scenario)
