"""``POST /2/tweets`` is the commit: after its answer is lost, the post is found, never made twice.

X has no idempotency key. The handle is marked before the post goes out; afterwards only the
account's timeline can tell whether the post exists. These scenarios show what the timeline
really looks like to a client (the emulator's ``x_timeline``): the text as X shows it (NFC,
links wrapped in t.co, the video's own link), more posts than one page, and a new post that
is missing from the first answers (eventual consistency).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from atroposd.domain import PostState
from atroposd.errors import TransientError
from atroposd.providers.base import RemotePhase, RemoteRef, RemoteStatus
from tests.providers.conformance import one_post_of
from tests.providers.harness import ACCOUNT, Harness, Scenario, make_request
from tests.providers.test_x_conformance import X_OAUTH2
from tests.providers.x_support import appends, run_x, sent_to, x_media
from tests.support import Emulator


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return x_media(tmp_path_factory.mktemp("x-commit") / "clip.mp4")


def _go(emulator: Emulator, media: Path, scenario: Scenario, description: str = "") -> None:
    request = make_request(media)
    if description:
        request = replace(request, description=description)
    run_x(X_OAUTH2, emulator, request, scenario)


async def _lose_the_answer_to_the_post(h: Harness) -> None:
    body = {"platform": "x", "step": "tweet", "nth": 1, "action": "commit_then_drop"}
    (await h.ctl.post("/_emulator/faults", json=[body])).raise_for_status()


async def _ready(h: Harness, ref: RemoteRef) -> RemoteStatus:
    """Ask until X's processing is over (the emulator's takes 0.3 s of real time)."""
    deadline = time.monotonic() + 20.0
    while True:
        status = await h.provider.status(ACCOUNT, ref)
        if status.phase is not RemotePhase.PROCESSING:
            return status
        assert time.monotonic() < deadline, "the media never finished processing"
        h.pipeline.clock.advance(1.0)  # past the check_after_secs X named
        await asyncio.sleep(0.05)


def test_a_post_x_shows_with_other_text_is_found_by_its_video(
    emulator: Emulator, media: Path
) -> None:
    """X shows the text NFC-normalized with its links wrapped: the video identifies the post."""

    async def scenario(h: Harness) -> None:
        await _lose_the_answer_to_the_post(h)
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        post = await one_post_of(h)
        assert done.remote_id == post["id"]
        assert sent_to(h, "POST", "/2/tweets") == 1, "the post was sent again"

    # "Cafe" + a combining acute accent (NFD, as some editors save it) and a link
    _go(emulator, media, scenario, "Cafe\u0301 at dawn https://example.com/menu?day=1 #coffee")


def test_a_lost_answer_is_found_among_more_posts_than_one_page(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        assert (await _ready(h, result.ref)).phase is RemotePhase.READY
        await _lose_the_answer_to_the_post(h)
        with pytest.raises(TransientError):
            await h.provider.publish(h.request, result.ref, h.save_ref)
        # the user went on posting from the X app: 150 newer posts than ours
        (await h.ctl.post("/x/_emulator/other_posts", json={"account": ACCOUNT, "count": 150}))
        h.pipeline.clock.advance(120.0)
        status = await h.provider.status(ACCOUNT, h.refs[-1])
        post = await one_post_of(h)
        assert status.phase is RemotePhase.PUBLISHED and status.remote_id == post["id"]

    _go(emulator, media, scenario)


def test_a_post_the_timeline_does_not_show_yet_is_waited_for_not_sent_again(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        lag = await h.ctl.post("/x/_emulator/timeline_lag", json={"reads": 3})
        lag.raise_for_status()
        await _lose_the_answer_to_the_post(h)
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        post = await one_post_of(h)
        assert done.remote_id == post["id"]
        assert sent_to(h, "POST", "/2/tweets") == 1, "the post was sent again"

    _go(emulator, media, scenario)


def test_a_parked_post_whose_media_expired_is_uploaded_again_and_posted_once(
    emulator: Emulator, media: Path
) -> None:
    """Parked at X's post limit, the media expired meanwhile (~24 h): the timeline proves no
    post came from it, so the pipeline uploads again (ADR 0012) instead of failing the post."""

    async def scenario(h: Harness) -> None:
        reset = str(int(h.pipeline.clock.now().timestamp()) + 900)
        limit = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset}
        rule = {"platform": "x", "step": "tweet", "action": "status", "code": 429}
        fault = await h.ctl.post("/_emulator/faults", json=[{**rule, "headers": limit}])
        fault.raise_for_status()
        planned = h.pipeline.plan(h.request, "x")
        await h.pipeline.publisher.work(planned.id)
        parked = h.pipeline.ledger.get(planned.id)
        assert parked is not None and parked.state is PostState.PUBLISHING
        await h.control("expire_uploads", platform="x")
        done = await h.pipeline.drive(planned.id, 20.0)
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        await one_post_of(h)
        assert len(set(appends(h))) == 2, "the post did not start over with a new media"
        assert sent_to(h, "POST", "/2/tweets") == 2  # the refused one, then the post

    _go(emulator, media, scenario)
