"""Snapchat's publish under the other readings of what Snap leaves unconfirmed (ADR 0009).

Two facts the double-post protection rests on are not documented: that the profile's lists
name the media each Spotlight/Story was made from, and that Snap's guard
(``MEDIA_POSTING_ALREADY_IN_PROGRESS``) refuses a media that was already posted rather than
only one still being posted. The emulator can take the other reading of each
(``POST /_emulator/snapchat/behaviour``); the post must still go out once, or wait for a human.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from atroposd.domain import Attention, PostState
from tests.providers.harness import Harness, make_request, run
from tests.providers.test_snapchat_conformance import SNAPCHAT
from tests.providers.test_snapchat_rules import uploaded_ready
from tests.providers.test_snapchat_scenarios import with_options
from tests.support import Emulator

S = PostState
Drive = Callable[..., None]
BLIND = {"lists_name_media": False, "guard_after_post": False}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SNAPCHAT.make_media(tmp_path_factory.mktemp("snap-safety") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    def go(scenario: Callable[[Harness], Any]) -> None:
        run(SNAPCHAT, emulator, replace(make_request(media)), scenario)

    return go


async def behave(h: Harness, **readings: bool) -> None:
    resp = await h.ctl.post("/_emulator/snapchat/behaviour", json=readings)
    assert resp.status_code == 200, resp.text
    defaults = {"lists_name_media": True, "guard_after_post": True, "keep_media": True}
    assert resp.json() == defaults | readings


def publishes(h: Harness) -> int:
    """How many Spotlight/Story POSTs the provider sent."""
    ends = ("/spotlights", "/stories")
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith(ends))


@pytest.mark.parametrize("publish_to", ["spotlight", "story"])
def test_a_lost_publish_is_not_sent_again_when_the_lists_cannot_name_the_media(
    drive: Drive, publish_to: str
) -> None:
    async def scenario(h: Harness) -> None:
        h.pipeline = with_options(h, {"publish_to": publish_to})
        await behave(h, **BLIND)
        await h.fault("publish", "commit_then_drop")
        done = await h.post()
        assert len(await h.posts()) == 1, "the publish went out again: two posts"
        assert publishes(h) == 1
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert done.attention == Attention.OUTCOME_UNKNOWN
        assert "atroposd resolve" in (done.last_error or ""), done.last_error

    drive(scenario)


def test_an_accepted_publish_is_published_even_when_the_lists_cannot_name_the_media(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:  # a Story: Snap answers SUCCESS without an id
        h.pipeline = with_options(h, {"publish_to": "story"})
        await behave(h, **BLIND)
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1 and publishes(h) == 1

    drive(scenario)


def test_an_accepted_publish_whose_media_is_gone_afterwards_is_published(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:  # a Story: Snap answers SUCCESS without an id
        h.pipeline = with_options(h, {"publish_to": "story"})
        await behave(h, keep_media=False, lists_name_media=False)
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1 and publishes(h) == 1

    drive(scenario)


def test_a_publish_snap_refused_is_sent_again_even_when_the_lists_cannot_name_the_media(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        await behave(h, **BLIND)
        earlier = await uploaded_ready(h)  # the profile lists a post, naming no media
        await h.provider.publish(h.request, earlier, h.save_ref)
        # Answered: Snap made nothing (a wait signal only so the test does not back off long).
        await h.fault("publish", "status", code=429, headers={"Retry-After": "0"})
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 2 and publishes(h) == 3

    drive(scenario)


def test_the_behaviour_control_refuses_what_it_does_not_know(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        for body in ({"lists_name_media": "no"}, {"guard": False}, [1]):
            resp = await h.ctl.post("/_emulator/snapchat/behaviour", json=body)
            assert resp.status_code == 400, (body, resp.text)
        await behave(h)  # an empty object changes nothing and reports the defaults

    drive(scenario)
