"""The publish step's own windows, on the two-step platform through the daemon's publisher."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from atroposd.domain import Attention, PostState
from tests.providers.harness import Harness, make_request, run
from tests.providers.pipeline import Pipeline
from tests.providers.test_twostep_conformance import TWOSTEP
from tests.support import Emulator

S = PostState
Drive = Callable[[Callable[[Harness], object]], None]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return TWOSTEP.make_media(tmp_path_factory.mktemp("publish-step") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    return lambda scenario: run(TWOSTEP, emulator, make_request(media), scenario)  # type: ignore[arg-type]


def publishes(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/publish"))


def test_a_publish_the_platform_accepted_is_never_sent_again(drive: Drive) -> None:
    """The ledger says the platform took the publish call; its listing still says ready (it
    lags, or the post was removed). Nothing is published again: a human looks instead."""

    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "a", deadline_s=2.0)
        planned = h.pipeline.plan(h.request, "twostep", result.ref)
        ledger, now = h.pipeline.ledger, h.pipeline.clock.now()
        for to in (S.UPLOADING, S.PROCESSING, S.PUBLISHING):  # as a previous process left it
            assert ledger.transition(planned.id, [ledger.get(planned.id).state], to)  # type: ignore[union-attr]
        ledger.set_fields(planned.id, publish_accepted_at=now)
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.STUCK, done
        assert publishes(h) == 0, "an accepted publish was sent again"
        assert await h.posts() == []

    drive(scenario)


def test_a_publish_that_keeps_failing_ends_at_the_deadline(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("publish", "status", code=503, times=100_000)
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "b", deadline_s=60.0)
        done = await h.post()
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.STUCK, done
        assert "503" in (done.last_error or "")
        assert 0 < publishes(h) < 30, f"{publishes(h)} publish calls for a 60 s deadline"
        assert await h.posts() == []

    drive(scenario)
