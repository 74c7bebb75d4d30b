"""A handle the platform let expire before anything was published from it (ADR 0012).

On the two-step platform through the daemon's publisher: a ready media item that expires while
its publish waits (a cap, hours offline) is uploaded again and posted once, never failed; a
saved handle found expired before a resume starts over; and once the platform accepted a
publish call, an expired answer never leads to a second upload — a human checks.
"""

from __future__ import annotations

import asyncio
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
    return TWOSTEP.make_media(tmp_path_factory.mktemp("publish-expired") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    return lambda scenario: run(TWOSTEP, emulator, make_request(media), scenario)  # type: ignore[arg-type]


def creates(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/v1/media"))


def publishes(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/publish"))


def test_media_expired_while_its_publish_waited_is_uploaded_again_and_posted_once(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("publish", "status", code=429, headers={"Retry-After": "3600"})
        planned = h.pipeline.plan(h.request, "twostep")
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.state is S.PUBLISHING, waiting
        assert waiting.retry_at is not None, "the refused publish should wait for its retry"
        await h.control("twostep/expire")  # the hours pass: the platform drops the media
        done = await h.pipeline.drive(planned.id, 20.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1
        assert creates(h) == 2, "the expired media was not replaced by a new upload"
        steps = [(frm, to) for frm, to, _ in h.pipeline.ledger.history(done.id)]
        assert (S.PUBLISHING.value, S.READY.value) in steps, steps

    drive(scenario)


def test_saved_handle_found_expired_before_a_resume_starts_over(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()  # a previous process uploaded it, then stopped
        assert result.ref is not None
        await h.control("twostep/expire")
        planned = h.pipeline.plan(h.request, "twostep", result.ref)
        done = await h.pipeline.drive(planned.id, 20.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1
        assert creates(h) == 2

    drive(scenario)


def test_expired_after_the_platform_accepted_the_publish_is_never_uploaded_again(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "c", deadline_s=5.0)
        planned = h.pipeline.plan(h.request, "twostep", result.ref)
        ledger = h.pipeline.ledger
        for to in (S.UPLOADING, S.PROCESSING, S.PUBLISHING):  # as a previous process left it
            assert ledger.transition(planned.id, [ledger.get(planned.id).state], to)  # type: ignore[union-attr]
        ledger.set_fields(planned.id, publish_accepted_at=h.pipeline.clock.now())
        await h.control("twostep/expire")
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.STUCK, done
        assert "accepted the publish" in (done.last_error or ""), done.last_error
        assert creates(h) == 1 and publishes(h) == 0
        assert await h.posts() == []

    drive(scenario)


def test_retry_of_a_post_the_platform_published_records_it_and_sends_nothing(
    drive: Drive,
) -> None:
    """The publish went out but its answer was lost; a human ran ``atroposd retry`` (the handle
    is kept). The platform says published: the post is recorded so, nothing uploaded."""

    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        for _ in range(200):  # processed: ready to publish
            if (await h.provider.status("alice", result.ref)).phase.value == "ready":
                break
            await asyncio.sleep(0.02)
        await h.provider.publish(h.request, result.ref, h.save_ref)  # its answer "lost"
        sent_before = len(h.sent)
        planned = h.pipeline.plan(h.request, "twostep", result.ref)  # as `retry` leaves it
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert done.remote_id == (await h.posts())[0]["id"]
        assert len(await h.posts()) == 1 and creates(h) == 1 and publishes(h) == 1
        after = [r for r in h.sent[sent_before:] if r.method != "GET"]
        assert after == [], f"requests other than asking after the retry: {after}"
        steps = [(frm, to) for frm, to, _ in h.pipeline.ledger.history(done.id)]
        assert (S.UPLOADING.value, S.PUBLISHED.value) in steps, steps

    drive(scenario)


def test_retry_after_an_accepted_publish_whose_upload_expired_waits_for_a_human(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        planned = h.pipeline.plan(h.request, "twostep", result.ref)
        ledger = h.pipeline.ledger
        ledger.set_fields(planned.id, publish_accepted_at=h.pipeline.clock.now())  # retry keeps
        await h.control("twostep/expire")
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert done.attention == Attention.OUTCOME_UNKNOWN, done.attention
        assert f"atroposd resolve {done.id}" in (done.last_error or ""), done.last_error
        assert creates(h) == 1 and publishes(h) == 0, "uploaded again after an accepted publish"

    drive(scenario)


def test_a_platform_that_keeps_answering_expired_is_given_to_a_human_not_uploaded_forever(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("publish", "status", code=429, headers={"Retry-After": "60"}, times=100)
        planned = h.pipeline.plan(h.request, "twostep")
        ledger, clock = h.pipeline.ledger, h.pipeline.clock
        post = ledger.get(planned.id)
        for _ in range(6):  # every upload expires while its publish waits
            await h.pipeline.publisher.work(planned.id)
            post = ledger.get(planned.id)
            assert post is not None
            if post.state is S.NEEDS_ATTENTION:
                break
            assert post.state is S.PUBLISHING, post
            await h.control("twostep/expire")
            if post.retry_at is not None and post.retry_at > clock.now():
                clock.advance((post.retry_at - clock.now()).total_seconds())
        assert post is not None and post.state is S.NEEDS_ATTENTION, post
        assert post.attention == Attention.STUCK and "3 times" in (post.last_error or ""), post
        assert creates(h) == 3, f"{creates(h)} uploads: two restarts, then a human"
        assert await h.posts() == []

    drive(scenario)
