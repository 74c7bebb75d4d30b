"""A Snapchat media that expires (24 h) while its publish waits is uploaded again (ADR 0012).

Through the daemon's publisher: the Spotlight POST is refused for a while (a rate limit, hours
offline), Snap drops the media meanwhile; no post was ever sent from it, so a new media is
uploaded and posted once instead of the post ending ``failed`` or waiting for a human.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from atroposd.domain import PostState
from tests.providers.harness import Harness, make_request, run
from tests.providers.test_snapchat_conformance import SNAPCHAT
from tests.support import Emulator

S = PostState
Drive = Callable[[Callable[[Harness], object]], None]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SNAPCHAT.make_media(tmp_path_factory.mktemp("snapchat-expiry") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    return lambda scenario: run(SNAPCHAT, emulator, make_request(media), scenario)  # type: ignore[arg-type]


def creates(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/media"))


def test_media_expired_while_its_publish_waited_is_uploaded_again_and_posted_once(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("publish", "status", code=429)  # the Spotlight POST refused: it waits
        planned = h.pipeline.plan(h.request, "snapchat")
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.state is S.PUBLISHING, waiting
        await h.control("snapchat/expire_media")  # a day passes
        done = await h.pipeline.drive(planned.id, 30.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1
        assert creates(h) == 2, "the expired media was not replaced by a new upload"

    drive(scenario)


def test_a_publish_answered_408_keeps_its_mark_so_an_expired_media_is_not_posted_again(
    drive: Drive,
) -> None:
    """A 408 is no answer: the Spotlight POST may have gone through. When the media is then
    gone and the profile does not list a post of it, a human decides; nothing is re-uploaded."""

    async def scenario(h: Harness) -> None:
        await h.fault("publish", "status", code=408)
        planned = h.pipeline.plan(h.request, "snapchat")
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.state is S.PUBLISHING, waiting
        await h.control("snapchat/expire_media")
        done = await h.pipeline.drive(planned.id, 30.0)
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert creates(h) == 1, "uploaded again although the first post may exist"

    drive(scenario)
