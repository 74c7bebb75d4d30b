"""``Archiver`` rules the archiving tests (test_archive.py) leave out: a clip leaves the queue
only when every platform it was planned for is done, and nothing already in the archive is
ever replaced. Real files, a real ledger, a fake clock."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing

from atroposd.domain import PostState
from atroposd.pipeline.archive import Archiver
from tests.support import sha256
from tests.unit.pipeline_support import ACCOUNT, Desk, desk, real_clip

S = PostState
TO_PUBLISHED = (S.UPLOADING, S.PROCESSING, S.PUBLISHED)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_clip(tmp_path_factory.mktemp("archiver"))


@pytest.fixture
def d(tmp_path: Path, clip: Path) -> Iterator[Desk]:
    with desk(tmp_path, clip) as it:
        yield it


def clear(d: Desk, post_id: int, delete: bool = False) -> list[str]:
    """What the publisher does after an OK: ``maybe_clear``, then wait; the events logged."""
    post = d.get(post_id)

    async def main() -> None:
        archiver = Archiver(d.ledger, d.archive, delete=delete)
        archiver.maybe_clear(post.clip_sha256, post.account, post.id)
        await archiver.drain()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    return [e["event"] for e in logs]


def queue_files(d: Desk) -> list[str]:
    return sorted(p.name for p in d.queue.iterdir())


def archive_files(d: Desk) -> list[str]:
    return sorted(p.name for p in d.archive.iterdir()) if d.archive.exists() else []


def test_the_pair_stays_until_every_platform_published_then_moves_together(d: Desk) -> None:
    yt, two = d.plan("both", ("youtube", "twostep"), sidecar=json.dumps({"title": "T"}))
    d.put(yt.id, *TO_PUBLISHED)
    assert clear(d, yt.id) == []
    assert queue_files(d) == ["both.json", "both.mp4", "both.txt"] and archive_files(d) == []
    d.put(two.id, S.UPLOADING, S.PROCESSING, S.PUBLISHING)  # the publish is still under way
    assert clear(d, yt.id) == []
    assert queue_files(d) == ["both.json", "both.mp4", "both.txt"]
    d.put(two.id, S.PUBLISHED)
    assert clear(d, two.id) == ["clip_archived"]
    assert queue_files(d) == []
    assert archive_files(d) == ["both.json", "both.mp4", "both.txt"]
    assert sha256(d.archive / "both.mp4") == sha256(d.clip)


@pytest.mark.parametrize("other", [S.FAILED, S.NEEDS_ATTENTION, S.READY])
def test_a_platform_that_did_not_publish_keeps_the_pair_in_the_queue(
    d: Desk, other: PostState
) -> None:
    yt, two = d.plan("half", ("youtube", "twostep"))
    d.put(yt.id, *TO_PUBLISHED)
    d.put(two.id, *{S.FAILED: (S.FAILED,), S.NEEDS_ATTENTION: (S.NEEDS_ATTENTION,)}.get(other, ()))
    assert clear(d, yt.id) == []
    assert queue_files(d) == ["half.mp4", "half.txt"] and archive_files(d) == []


def test_a_platform_cancelled_by_the_user_does_not_hold_the_pair(d: Desk) -> None:
    yt, two = d.plan("cancelled", ("youtube", "twostep"))
    d.put(two.id, S.CANCELLED)
    d.put(yt.id, *TO_PUBLISHED)
    assert clear(d, yt.id) == ["clip_archived"]
    assert archive_files(d) == ["cancelled.mp4", "cancelled.txt"]


def test_delete_mode_also_waits_for_every_platform(d: Desk) -> None:
    yt, two = d.plan("gone", ("youtube", "twostep"))
    d.put(yt.id, *TO_PUBLISHED)
    assert clear(d, yt.id, delete=True) == []
    assert queue_files(d) == ["gone.mp4", "gone.txt"]
    d.put(two.id, *TO_PUBLISHED[:-1], S.PUBLISHING, S.PUBLISHED)
    assert clear(d, two.id, delete=True) == ["clip_deleted"]
    assert queue_files(d) == [] and archive_files(d) == []


def test_a_file_another_account_still_has_to_post_is_not_moved(d: Desk) -> None:
    [mine] = d.plan("shared", ("youtube",))
    drop = d.ledger.drop_of(mine.id)
    sha = hashlib.sha256(b"shared").hexdigest()
    [theirs], _ = d.ledger.plan(sha, 1, "bob", ["youtube"], drop)  # e.g. a linked folder
    d.put(mine.id, *TO_PUBLISHED)
    assert ACCOUNT != "bob" and clear(d, mine.id) == []
    assert queue_files(d) == ["shared.mp4", "shared.txt"]
    d.put(theirs.id, S.READY, *TO_PUBLISHED)
    assert clear(d, theirs.id) == ["clip_archived"]
    assert queue_files(d) == []


def test_different_files_already_in_the_archive_are_never_replaced(d: Desk) -> None:
    d.archive.mkdir()
    older = {"again.mp4": b"an older clip of that name", "again.txt": b"its caption"}
    for name, data in older.items():
        (d.archive / name).write_bytes(data)
    [post] = d.plan("again", ("youtube",))
    caption = (d.queue / "again.txt").read_bytes()
    d.put(post.id, *TO_PUBLISHED)
    assert clear(d, post.id) == ["clip_archived"]
    for name, data in older.items():
        assert (d.archive / name).read_bytes() == data
    assert sha256(d.archive / "again.1.mp4") == sha256(d.clip)
    assert (d.archive / "again.1.txt").read_bytes() == caption
    assert queue_files(d) == []


@pytest.mark.parametrize("taken", ["again.txt", "again.mp4"])
def test_an_archived_video_and_its_caption_keep_one_name(d: Desk, taken: str) -> None:
    """When one name of the pair is taken in the archive by another clip's file, the pair
    still lands under one name: a caption beside a video in the archive is its caption."""
    d.archive.mkdir()
    (d.archive / taken).write_bytes(b"another clip's file of that name")
    [post] = d.plan("again", ("youtube",))
    caption = (d.queue / "again.txt").read_bytes()
    d.put(post.id, *TO_PUBLISHED)
    assert clear(d, post.id) == ["clip_archived"]
    assert (d.archive / taken).read_bytes() == b"another clip's file of that name"
    videos = [p for p in d.archive.glob("again*.mp4") if sha256(p) == sha256(d.clip)]
    assert len(videos) == 1
    assert videos[0].with_suffix(".txt").read_bytes() == caption, sorted(archive_files(d))
