"""``Publisher`` rules, driven on a real ledger against the real emulator with a fake clock.

Each test asserts what a user would see: how many posts the platform has, where the post
waits in the ledger, and what was (not) sent.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog.testing

from atroposd.domain import Attention, PostState
from atroposd.providers.base import RemoteRef
from tests.unit.pipeline_support import Rig, Run, google_error, real_clip, runner

S = PostState
PACIFIC = ZoneInfo("America/Los_Angeles")
CREATE = {"youtube": "/upload/youtube/v3/videos", "twostep": "/twostep/v1/media"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_clip(tmp_path_factory.mktemp("publisher"))


@pytest.fixture
def run(tmp_path: Path, clip: Path) -> Run:
    return runner(tmp_path, clip)


def creates(r: Rig, platform: str) -> int:
    """Uploads the provider opened on ``platform`` (each could become a post)."""
    return sum(1 for c in r.calls("POST") if c.url.path.endswith(CREATE[platform]))


def publishes(r: Rig) -> int:
    """Publish calls sent to the two-step platform."""
    return len(r.calls("POST", "/publish"))


# -- ready -> published --------------------------------------------------------------------


def test_youtube_post_goes_from_ready_to_published_without_a_publish_step(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("yt", ("youtube",))
        await r.publisher.work(post.id)
        done = r.get(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("youtube")
        assert done.remote_id == item["id"]
        assert r.states(post.id) == ["planned", "ready", "uploading", "processing", "published"]

    run(scenario)


def test_twostep_post_is_published_by_its_own_step_once(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("two", ("twostep",))
        await r.publisher.work(post.id)
        done = r.get(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("twostep")
        assert done.remote_id == item["id"]
        assert item["caption"] == "A clip\n\n#shorts"  # the request's text went with the publish
        assert r.states(post.id) == [
            "planned",
            "ready",
            "uploading",
            "processing",
            "publishing",
            "published",
        ]
        assert publishes(r) == 1

    run(scenario)


# -- what is not worked --------------------------------------------------------------------


def test_a_post_due_later_is_not_worked_until_then(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("later", ("youtube",))
        r.ledger.set_fields(post.id, retry_at=r.clock.now() + timedelta(minutes=10))
        await r.publisher.work(post.id)
        assert r.get(post.id).state is S.READY
        assert r.sent == [] and r.states(post.id) == ["planned", "ready"]
        r.clock.advance(10 * 60)
        await r.publisher.work(post.id)
        assert r.get(post.id).state is S.PUBLISHED
        assert len(await r.posts()) == 1

    run(scenario)


def test_a_platform_not_enabled_holds_the_post_until_it_is(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("held", ("twostep",))
        r.disabled.add("twostep")
        await r.publisher.work(post.id)
        held = r.get(post.id)
        assert held.state is S.READY and held.attempts == 0 and held.retry_at is None
        assert r.sent == [] and r.states(post.id) == ["planned", "ready"]
        r.disabled.clear()
        await r.publisher.work(post.id)
        assert r.get(post.id).state is S.PUBLISHED
        assert len(await r.posts("twostep")) == 1

    run(scenario)


# -- a saved handle: ask first -------------------------------------------------------------


def test_a_saved_upload_the_platform_rejected_starts_over_and_posts_once(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("rejected", ("youtube",))
        gone = RemoteRef("youtube_video", {"id": "rejected1"})
        r.ledger.set_fields(post.id, remote_ref=gone.to_json(), remote_id="rejected1")
        answer = {"items": [{"id": "rejected1", "status": {"uploadStatus": "rejected"}}]}
        await r.fault("youtube", "list", code=200, body=answer)  # the one question asked first
        with structlog.testing.capture_logs() as logs:
            done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, (done.last_error, r.ledger.history(post.id))
        [item] = await r.posts()
        assert done.remote_id == item["id"] != "rejected1"
        assert creates(r, "youtube") == 1
        assert [e["reason"] for e in logs if e["event"] == "upload_restarted"] == [
            "rejected: rejected"
        ]

    run(scenario)


@pytest.mark.parametrize("platform", ["youtube", "twostep"])
def test_a_saved_upload_still_under_way_is_resumed_not_restarted(run: Run, platform: str) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("cut", (platform,))
        await r.fault(platform, "chunk", "drop", nth=2)  # the connection dies mid-upload
        await r.publisher.work(post.id)
        cut = r.get(post.id)
        assert (
            cut.state is S.READY and cut.remote_ref and 0 < cut.bytes_sent < r.clip.stat().st_size
        )
        done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        assert len(await r.posts(platform)) == 1
        assert creates(r, platform) == 1
        first = [
            c for c in r.calls("PUT") if c.headers.get("content-range", "").startswith("bytes 0-")
        ]
        assert len(first) == 1, "bytes the platform held were sent again"

    run(scenario)


# -- a crash in the publish step -----------------------------------------------------------


async def uploaded_then_crashed(r: Rig, publish_sent: bool) -> int:
    """A two-step post whose media was uploaded and whose process died in ``publishing``,
    before (or after) the publish call reached the platform; its id."""
    [post] = r.plan("crash", ("twostep",))
    provider, request = r.providers["twostep"], r.request(post.id)

    async def keep(ref: RemoteRef) -> None:
        pass

    result = await provider.upload(request, None, keep)
    assert result.ref is not None
    if publish_sent:
        await provider.publish(request, result.ref, keep)
    r.put(
        post.id,
        S.UPLOADING,
        S.PROCESSING,
        S.PUBLISHING,
        remote_ref=result.ref.to_json(),
        remote_id=result.remote_id,
        bytes_sent=result.bytes_sent,
    )
    r.new_publisher()  # the next process
    r.sent.clear()
    return post.id


def test_publishing_after_a_crash_before_the_call_publishes_once(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        post_id = await uploaded_then_crashed(r, publish_sent=False)
        with structlog.testing.capture_logs() as logs:
            await r.publisher.work(post_id)
        done = r.get(post_id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("twostep")
        assert done.remote_id == item["id"]
        assert publishes(r) == 1
        assert [e["reason"] for e in logs if e["event"] == "publish_again"] == [
            "the platform says ready"
        ]

    run(scenario)


def test_publishing_after_a_crash_after_the_call_is_not_published_again(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        post_id = await uploaded_then_crashed(r, publish_sent=True)
        await r.publisher.work(post_id)
        done = r.get(post_id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("twostep")
        assert done.remote_id == item["id"]
        assert publishes(r) == 0

    run(scenario)


def test_publishing_after_a_crash_waits_until_the_platform_says_ready(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        post_id = await uploaded_then_crashed(r, publish_sent=False)
        busy = {"state": "processing", "offset": 0}
        await r.fault("twostep", "status", code=200, body=busy, times=3)
        await r.publisher.work(post_id)
        assert r.get(post_id).state is S.PUBLISHED
        steps = [
            (c.method, c.url.path.rsplit("/", 1)[-1]) for c in r.sent if "/v1/media" in str(c.url)
        ]
        assert steps[-1] == ("POST", "publish") and len(steps) == 5, steps  # 3 busy, 1 ready
        assert len(await r.posts("twostep")) == 1

    run(scenario)


@pytest.mark.parametrize("publish_sent", [False, True])
def test_a_retried_two_step_post_asks_before_it_publishes(run: Run, publish_sent: bool) -> None:
    """``atroposd retry`` of a post that waited for a human in ``publishing``: the handle is
    kept, the media is never uploaded again, and it is published only if it was not."""

    async def scenario(r: Rig) -> None:
        post_id = await uploaded_then_crashed(r, publish_sent)
        r.put(post_id, S.NEEDS_ATTENTION)
        r.put(post_id, S.READY)  # what ``atroposd retry`` does, handle kept
        done = await r.settle(post_id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("twostep")
        assert done.remote_id == item["id"]
        assert creates(r, "twostep") == 0
        assert publishes(r) == (0 if publish_sent else 1)

    run(scenario)


def test_a_publish_whose_answer_was_lost_is_not_sent_again(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("lost", ("twostep",))
        await r.fault("twostep", "publish", "commit_then_drop")
        await r.publisher.work(post.id)
        waiting = r.get(post.id)
        assert waiting.state is S.PUBLISHING and waiting.retry_at is not None
        done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("twostep")
        assert done.remote_id == item["id"]
        assert publishes(r) == 1

    run(scenario)


# -- quota and bugs ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 429])
def test_quota_reached_parks_the_post_until_the_reset_without_counting_it(
    run: Run, status: int
) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("quota", ("youtube",))
        body = google_error(
            status, "quotaExceeded", "You have exceeded your quota.", "youtube.quota"
        )
        await r.fault("youtube", "create", code=status, body=body)
        await r.publisher.work(post.id)
        parked = r.get(post.id)
        assert parked.state is S.READY and parked.attempts == 0
        assert parked.retry_at is not None and parked.retry_at > r.clock.now()
        reset = parked.retry_at.astimezone(PACIFIC)
        assert (reset.hour, reset.minute) == (0, 0)
        assert r.publisher.parked == {post.id}
        assert await r.posts() == []
        await r.publisher.work(post.id)  # before the reset: nothing is sent
        assert creates(r, "youtube") == 1
        done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        assert r.publisher.parked == set()

    run(scenario)


def bug_logged(logs: list[MutableMapping[str, Any]]) -> Any:
    [bug] = [e for e in logs if e["event"] == "post_bug"]
    return bug.get("exc_info")


def test_an_unexpected_error_in_an_upload_waits_for_a_human_and_is_not_repeated(
    run: Run,
) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("bug", ("youtube",))
        # A 308 whose Range header is garbage: no platform error, no OS error, a bug of ours.
        await r.fault("youtube", "chunk", code=308, headers={"Range": "bytes=0-oops"})
        with structlog.testing.capture_logs() as logs:
            await r.publisher.work(post.id)
        done = r.get(post.id)
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.BUG
        assert isinstance(bug_logged(logs), ValueError)
        sent = len(r.sent)
        r.clock.advance(24 * 3600)
        await r.publisher.work(post.id)
        assert len(r.sent) == sent and r.get(post.id).state is S.NEEDS_ATTENTION

    run(scenario)


def test_an_unexpected_status_answer_waits_for_a_human_and_nothing_is_published(
    run: Run,
) -> None:
    async def scenario(r: Rig) -> None:
        [post] = r.plan("bug2", ("twostep",))
        odd = {"state": "ready", "offset": "all of it"}  # not a number: our parse breaks
        await r.fault("twostep", "status", code=200, body=odd)
        with structlog.testing.capture_logs() as logs:
            await r.publisher.work(post.id)
        done = r.get(post.id)
        assert done.state is S.NEEDS_ATTENTION and done.attention == Attention.BUG
        assert isinstance(bug_logged(logs), ValueError)
        assert publishes(r) == 0 and await r.posts() == []

    run(scenario)
