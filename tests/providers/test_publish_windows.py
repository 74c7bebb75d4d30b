"""The windows where a step may have committed, driven through the daemon's own publisher.

Each test runs the real YouTube provider against the real emulator, through ``Publisher`` on a
real ledger file, and asserts what a user would see: how many videos the platform has, and
where the post waits.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from atroposd.domain import Attention, PostState
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers.base import RemotePhase, RemoteRef
from atroposd.providers.youtube import next_pacific_midnight
from tests.providers.harness import Harness, make_request, media_requests, run
from tests.providers.pipeline import Pipeline
from tests.providers.test_youtube_conformance import YOUTUBE
from tests.support import REPO, Emulator, google_error

S = PostState
Drive = Callable[[Callable[[Harness], object]], None]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = YOUTUBE.make_media(tmp_path_factory.mktemp("windows") / "clip.mp4")
    assert media_requests(path.stat().st_size, YOUTUBE.chunk_size) >= 3
    return path


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    return lambda scenario: run(YOUTUBE, emulator, make_request(media), scenario)  # type: ignore[arg-type]


def chunks(h: Harness) -> int:
    return media_requests(h.request.size, YOUTUBE.chunk_size)


def creates(h: Harness) -> int:
    """Upload sessions the provider opened."""
    return sum(1 for r in h.sent if r.method == "POST" and "uploadType=resumable" in str(r.url))


def the_cli(pipeline: Pipeline, *args: str, code: int = 0) -> str:
    """A real ``atroposd`` ledger command (``retry``, ``resolve``) on the pipeline's ledger;
    its stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
    config = REPO / "atroposd" / "data" / "upload_config.example.json"
    env.update(
        ENVIRONMENT="sandbox", STATE_DIR=str(pipeline.home / "state"), UPLOAD_CONFIG=str(config)
    )
    done = subprocess.run(
        [sys.executable, "-m", "atroposd", "--env-file", os.devnull, *args],
        env=env,
        cwd=pipeline.home,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == code, done.stderr
    return done.stderr


def retry_with_the_cli(pipeline: Pipeline, post_id: int) -> None:
    """``atroposd retry <id>``: back to ready, the handle kept."""
    the_cli(pipeline, "retry", str(post_id))
    post = pipeline.ledger.get(post_id)
    assert post is not None and post.state is S.READY, post


def test_session_gone_after_every_byte_was_sent_is_not_uploaded_again(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("media", "drop", nth=chunks(h))  # the final chunk's answer never comes
        h.pipeline = Pipeline.build(
            h.provider, h.pipeline.home / "a", 15.0, RetryPolicy(max_attempts=1)
        )
        first = await h.post()
        # Given up with a handle saved: not "failed", the platform may hold the video.
        assert first.state is S.NEEDS_ATTENTION, (first.state, first.last_error)
        assert first.attention == Attention.OUTCOME_UNKNOWN and first.remote_ref
        await h.control("expire_uploads", platform="youtube")  # the session is gone meanwhile
        retry_with_the_cli(h.pipeline, first.id)
        again = await h.pipeline.drive(first.id, 15.0)
        assert again.state is S.NEEDS_ATTENTION, (again.state, again.last_error)
        assert again.attention == Attention.OUTCOME_UNKNOWN
        assert creates(h) == 1, "a second upload session was opened: possibly a second video"
        assert await h.posts() == []
        # The user checked the channel: it is not there. Only then is it uploaded again.
        the_cli(h.pipeline, "resolve", str(first.id), "--not-posted")
        last = await h.pipeline.drive(first.id, 15.0)
        assert last.state is S.PUBLISHED, (last.state, last.last_error)
        assert creates(h) == 2 and len(await h.posts()) == 1

    drive(scenario)


def test_retry_of_a_post_that_gave_up_after_its_bytes_arrived_posts_once(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("commit", "commit_then_drop")  # the video exists; nobody heard
        await h.fault("query", "status", code=503, times=50)  # and nobody can ask
        h.pipeline = Pipeline.build(
            h.provider, h.pipeline.home / "b", 15.0, RetryPolicy(max_attempts=1)
        )
        first = await h.post()
        # Given up with a handle saved: not "failed", the platform may hold the video.
        assert first.state is S.NEEDS_ATTENTION, (first.state, first.last_error)
        assert first.attention == Attention.OUTCOME_UNKNOWN and first.remote_ref
        assert len(await h.posts()) == 1
        (await h.ctl.delete("/_emulator/faults")).raise_for_status()  # the platform answers again
        retry_with_the_cli(h.pipeline, first.id)
        again = await h.pipeline.drive(first.id, 15.0)
        assert again.state is S.PUBLISHED, (again.state, again.last_error)
        [post] = await h.posts()
        assert post["id"] == again.remote_id
        assert creates(h) == 1

    drive(scenario)


def test_unexpected_error_parks_the_post_with_a_traceback_and_sends_nothing_more(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        # A 308 whose Range header is garbage: no platform error, no OS error, a bug of ours.
        await h.fault("media", "status", code=308, headers={"Range": "bytes=0-oops"})
        with structlog.testing.capture_logs() as logs:
            done = await h.post()
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert done.attention == Attention.BUG
        bug = [e for e in logs if e["event"] == "post_bug"]
        assert bug and isinstance(bug[0].get("exc_info"), ValueError), logs
        media = [r for r in h.sent if r.method == "PUT"]
        assert len(media) == 1, "the step that broke was repeated"

    drive(scenario)


def test_processing_that_never_ends_waits_for_a_human_after_the_deadline(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        stuck = {"items": [{"id": "x", "status": {"uploadStatus": "uploaded"}}]}
        await h.fault("poll", "status", code=200, body=stuck, times=100_000)
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "c", deadline_s=2.0)
        done = await h.post()
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert done.attention == Attention.STUCK
        polls = [r for r in h.sent if r.method == "GET"]
        assert 0 < len(polls) < 100, f"{len(polls)} status polls for a 2 s deadline"
        assert "still processing on the platform after 2 s" in (done.last_error or "")

    drive(scenario)


def test_caption_edited_before_the_first_byte_is_the_one_posted(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("session", "status", code=503)  # the first attempt sends nothing
        planned = h.pipeline.plan(h.request, "youtube", sidecar=False)
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.state is S.READY and waiting.bytes_sent == 0
        caption = h.pipeline.ledger.drop_of(planned.id).caption_path
        caption.write_text("Fixed typo in the caption\n\n#shorts", encoding="utf-8")
        with structlog.testing.capture_logs() as logs:
            done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["caption"] == "Fixed typo in the caption\n\n#shorts"
        assert any(e["event"] == "caption_updated" for e in logs)

    drive(scenario)


def test_caption_edited_after_the_first_byte_is_reported_too_late(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("media", "drop", nth=2)  # the first attempt sent one chunk
        planned = h.pipeline.plan(h.request, "youtube", sidecar=False)
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.bytes_sent > 0, waiting
        caption = h.pipeline.ledger.drop_of(planned.id).caption_path
        caption.write_text("Too late", encoding="utf-8")
        with structlog.testing.capture_logs() as logs:
            done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["caption"] == h.request.description
        assert [e for e in logs if e["event"] == "caption_edit_too_late"], logs

    drive(scenario)


def test_quota_out_while_processing_waits_for_the_reset_not_for_a_human(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        quota = google_error(403, "quotaExceeded", "You have exceeded your quota.", "youtube.quota")
        await h.fault("poll", "status", code=403, body=quota)
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "q", deadline_s=2.0)
        planned = h.pipeline.plan(h.request, "youtube")
        await h.pipeline.publisher.work(planned.id)
        parked = h.pipeline.ledger.get(planned.id)
        assert parked is not None and parked.state is S.PROCESSING, parked
        assert parked.retry_at is not None and parked.attempts == 0, parked
        assert parked.retry_at == next_pacific_midnight(h.pipeline.clock.now())  # the reset
        ref = RemoteRef.from_json(parked.remote_ref or "")
        for _ in range(200):  # hours pass: the platform has long finished processing
            if (await h.provider.status("alice", ref)).phase is RemotePhase.PUBLISHED:
                break
            await asyncio.sleep(0.02)
        done = await h.pipeline.drive(planned.id, 15.0)  # after the reset, past the deadline
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1

    drive(scenario)


def test_status_failing_past_the_deadline_waits_for_a_human(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("poll", "status", code=503, times=100_000)
        h.pipeline = Pipeline.build(h.provider, h.pipeline.home / "s", deadline_s=30.0)
        done = await h.post()
        assert done.state is S.NEEDS_ATTENTION, (done.state, done.last_error)
        assert done.attention == Attention.STUCK
        assert "503" in (done.last_error or ""), done.last_error

    drive(scenario)


def test_a_parked_post_cancelled_by_the_cli_is_no_longer_counted_as_parked(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        quota = google_error(403, "quotaExceeded", "You have exceeded your quota.", "youtube.quota")
        await h.fault("session", "status", code=403, body=quota)
        planned = h.pipeline.plan(h.request, "youtube")
        await h.pipeline.publisher.work(planned.id)
        assert h.pipeline.publisher.parked == {planned.id}
        cancelled = h.pipeline.ledger.transition(planned.id, [S.READY], S.CANCELLED)  # the CLI
        assert cancelled is not None
        assert h.pipeline.publisher.parked == set()

    drive(scenario)


def test_an_unknown_outcome_found_on_the_platform_is_recorded_by_hand(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("commit", "commit_then_drop")  # the video exists; nobody heard
        await h.fault("query", "status", code=503, times=50)
        h.pipeline = Pipeline.build(
            h.provider, h.pipeline.home / "r", 15.0, RetryPolicy(max_attempts=1)
        )
        first = await h.post()
        assert first.state is S.NEEDS_ATTENTION, (first.state, first.last_error)
        [video] = await h.posts()
        the_cli(h.pipeline, "resolve", str(first.id), "--posted", video["id"])
        done = h.pipeline.ledger.get(first.id)
        assert done is not None and done.state is S.PUBLISHED and done.remote_id == video["id"]
        assert creates(h) == 1 and len(await h.posts()) == 1

    drive(scenario)


def test_a_worker_that_dies_outside_a_step_parks_its_post(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        planned = h.pipeline.plan(h.request, "youtube")
        ledger = h.pipeline.ledger
        for to in (S.UPLOADING, S.PROCESSING):  # a row left without its handle (a bug)
            assert ledger.transition(planned.id, [ledger.get(planned.id).state], to)  # type: ignore[union-attr]
        with structlog.testing.capture_logs() as logs:
            h.pipeline.publisher.kick(planned.id)
            await h.pipeline.publisher.drain()
        done = ledger.get(planned.id)
        assert done is not None and done.state is S.NEEDS_ATTENTION, done
        assert done.attention == Attention.BUG
        assert [e for e in logs if e["event"] == "post_worker_crashed"], logs
        assert h.sent == [], "the broken step was sent to the platform"

    drive(scenario)


def test_cancel_after_the_upload_started_says_it_is_too_late_and_changes_nothing(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        planned = h.pipeline.plan(h.request, "youtube")
        ledger = h.pipeline.ledger
        assert ledger.transition(planned.id, [S.READY], S.UPLOADING)
        said = the_cli(h.pipeline, "cancel", str(planned.id), code=1)
        assert "too late to cancel" in said and "delete it on the platform" in said
        post = ledger.get(planned.id)
        assert post is not None and post.state is S.UPLOADING

    drive(scenario)
