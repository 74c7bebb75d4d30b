"""``Reconciler``: after a crash, the sweep takes every post on from where the ledger says it
stopped, exactly once, and finishes archiving; the real publisher, ledger and emulator."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from atroposd.domain import PostState
from atroposd.errors import TransientError
from atroposd.pipeline.reconcile import Reconciler
from atroposd.providers.base import RemoteRef
from tests.unit.pipeline_support import ACCOUNT, CHUNK, Rig, Run, real_clip, runner

S = PostState


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_clip(tmp_path_factory.mktemp("reconciler"))


@pytest.fixture
def run(tmp_path: Path, clip: Path) -> Run:
    return runner(tmp_path, clip)


def reconciler(r: Rig) -> Reconciler:
    """The sweep of a new daemon process (its publisher has no worker yet)."""
    return Reconciler(r.ledger, r.new_publisher(), r.archiver, r.clock)


async def crashed_in(r: Rig, name: str, platform: str, state: PostState) -> int:
    """A post a dead process left in ``state``, with the handle it had saved; its id."""
    [post] = r.plan(name, (platform,))
    if state is S.READY:
        return post.id
    provider, request = r.providers[platform], r.request(post.id)
    saved: list[RemoteRef] = []

    async def save(ref: RemoteRef) -> None:
        saved.append(ref)

    if state is S.UPLOADING:  # the process died with one chunk on the platform
        await r.fault(platform, "chunk", "drop", nth=2)
        with pytest.raises(TransientError):
            await provider.upload(request, None, save)
        r.put(post.id, S.UPLOADING, remote_ref=saved[-1].to_json(), bytes_sent=CHUNK)
        return post.id
    result = await provider.upload(request, None, save)
    assert result.ref is not None
    steps = (S.UPLOADING, S.PROCESSING) + ((S.PUBLISHING,) if state is S.PUBLISHING else ())
    r.put(
        post.id,
        *steps,
        remote_ref=result.ref.to_json(),
        remote_id=result.remote_id,
        bytes_sent=result.bytes_sent,
    )
    return post.id


def creates(r: Rig) -> int:
    """Uploads opened on either platform."""
    ends = ("/upload/youtube/v3/videos", "/twostep/v1/media")
    return sum(1 for c in r.calls("POST") if c.url.path.endswith(ends))


def test_posts_planned_before_a_crash_are_armed_and_posted(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        drop = r.drop("planned")
        size = drop.video_path.stat().st_size
        new, _ = r.ledger.plan("ab" * 32, size, ACCOUNT, ["youtube", "twostep"], drop)
        assert {p.state for p in new} == {S.PLANNED}  # the process died before arming them
        assert reconciler(r).sweep() == 2
        await r.publisher.drain()
        assert [r.get(p.id).state for p in new] == [S.PUBLISHED, S.PUBLISHED]
        assert len(await r.posts()) == 2

    run(scenario)


def test_the_sweep_takes_every_unfinished_post_on_from_its_step_exactly_once(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        ids = {
            "ready": await crashed_in(r, "ready", "youtube", S.READY),
            "uploading": await crashed_in(r, "uploading", "youtube", S.UPLOADING),
            "processing": await crashed_in(r, "processing", "twostep", S.PROCESSING),
            "publishing": await crashed_in(r, "publishing", "twostep", S.PUBLISHING),
        }
        opened = creates(r)  # by the dead process: its three uploads
        assert reconciler(r).sweep() == 4
        await r.publisher.drain()
        states = {name: r.get(i).state for name, i in ids.items()}
        assert states == dict.fromkeys(ids, S.PUBLISHED)
        assert creates(r) == opened + 1, "an upload was started again instead of resumed"
        posts = await r.posts()
        assert len(posts) == 4
        assert sorted(p["id"] for p in posts) == sorted(
            str(r.get(i).remote_id) for i in ids.values()
        )

    run(scenario)


def test_a_post_due_later_is_left_alone_until_it_is_due(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        post_id = await crashed_in(r, "later", "youtube", S.READY)
        when = r.clock.now() + timedelta(minutes=30)
        r.ledger.set_fields(post_id, retry_at=when)
        sweep = reconciler(r)
        assert sweep.sweep() == 0
        await r.publisher.drain()
        waiting = r.get(post_id)
        assert waiting.state is S.READY and waiting.retry_at == when and r.sent == []
        r.clock.advance(30 * 60)
        assert sweep.sweep() == 1
        await r.publisher.drain()
        assert r.get(post_id).state is S.PUBLISHED and len(await r.posts()) == 1

    run(scenario)


def test_a_post_a_worker_already_has_is_not_handed_out_again(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        first = await crashed_in(r, "first", "twostep", S.READY)
        second = await crashed_in(r, "second", "twostep", S.READY)
        sweep = reconciler(r)
        r.publisher.kick(first)  # an event got there before the sweep
        assert r.publisher.busy == {first}
        assert sweep.sweep() == 1  # the second only
        assert sweep.sweep() == 0  # both are being worked on now
        await r.publisher.drain()
        assert [r.get(i).state for i in (first, second)] == [S.PUBLISHED, S.PUBLISHED]
        assert len(await r.posts()) == 2 and creates(r) == 2

    run(scenario)


def test_files_of_a_clip_published_before_a_crash_are_archived(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        yt, two = r.plan("published", ("youtube", "twostep"))
        r.put(yt.id, S.UPLOADING, S.PROCESSING, S.PUBLISHED)
        sweep = reconciler(r)
        sweep.finish_archiving()
        await r.archiver.drain()
        assert sorted(p.name for p in r.queue.iterdir()) == ["published.mp4", "published.txt"]
        r.put(two.id, S.UPLOADING, S.PROCESSING, S.PUBLISHING, S.PUBLISHED)  # then the crash
        reconciler(r).finish_archiving()  # the next process
        await r.archiver.drain()
        assert list(r.queue.iterdir()) == []
        assert sorted(p.name for p in r.archive.iterdir()) == ["published.mp4", "published.txt"]

    run(scenario)
