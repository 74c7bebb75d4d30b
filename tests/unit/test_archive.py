"""Archiving with real files and a real ledger: off the event loop, never a partial file under
a final name, the same name on a retry, duplicates archived with their clip and retried."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.move import part_name
from atroposd.store.db import connect
from atroposd.store.ledger import Ledger
from tests.archive_support import drop_of, listing, other_filesystem, plan, publish
from tests.support import make_clip, sha256

from .support import FakeClock


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    conn = connect(tmp_path / "state" / "ledger.sqlite3")
    try:
        yield Ledger(conn, FakeClock())
    finally:
        conn.close()


@pytest.fixture
def queue(tmp_path: Path) -> Path:
    folder = tmp_path / "queue"
    folder.mkdir()
    return folder


def pair(queue: Path, stem: str, seed: int = 1, **clip: Any) -> Path:
    video = make_clip(queue / f"{stem}.mp4", seed=seed, **clip)
    video.with_suffix(".txt").write_text(f"Clip {stem}\n")
    return video


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """An archive folder on another filesystem than the queue."""
    with other_filesystem(tmp_path) as folder:
        yield folder


class CopyWatch:
    """Audits ``shutil.copyfile``: which thread ran it, and whether the loop ticked meanwhile.

    In the copying thread the hook waits (with a deadline) until the event loop has ticked
    twice more: it can only tick while the copy is under way if the copy is off the loop.
    """

    def __init__(self) -> None:
        self.loop_thread = threading.get_ident()
        self.ticks = 0
        self.copies: list[tuple[int, bool]] = []  # (thread, loop ticked during the copy)
        self._ticked = threading.Condition()
        self.on = True
        sys.addaudithook(self._hook)  # hooks cannot be removed: ``on`` ends it

    def tick(self) -> None:
        with self._ticked:
            self.ticks += 1
            self._ticked.notify_all()

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.on or event != "shutil.copyfile":
            return
        thread = threading.get_ident()
        if thread == self.loop_thread:  # waiting here would stall the very loop we watch
            self.copies.append((thread, False))
            return
        with self._ticked:
            start = self.ticks
            ticked = self._ticked.wait_for(lambda: self.ticks >= start + 2, timeout=30)
        self.copies.append((thread, ticked))


def test_cross_filesystem_move_copies_off_the_event_loop(
    ledger: Ledger, queue: Path, other_fs: Path
) -> None:
    video = pair(queue, "big", seconds=2.0, bitrate="8M")
    data = sha256(video)
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    watch = CopyWatch()

    async def main() -> None:
        archiver = Archiver(ledger, other_fs, delete=False)

        async def ticker() -> None:
            while True:
                watch.tick()
                await asyncio.sleep(0.001)

        ticking = asyncio.create_task(ticker())
        archiver.maybe_clear(sha, "default", post_id)
        await archiver.drain()
        ticking.cancel()

    try:
        asyncio.run(main())
    finally:
        watch.on = False
    assert watch.copies, "nothing was copied: not a cross-filesystem move"
    assert all(thread != watch.loop_thread for thread, _ in watch.copies), "copied on the loop"
    assert all(ticked for _, ticked in watch.copies), "the loop did not run during the copy"
    assert sha256(other_fs / "big.mp4") == data and not video.exists()
    assert sorted(listing(other_fs)) == ["big.mp4", "big.txt"]


def run_clear(ledger: Ledger, archive: Path, sha: str, post_id: int) -> list[dict[str, Any]]:
    async def main() -> None:
        archiver = Archiver(ledger, archive, delete=False)
        archiver.maybe_clear(sha, "default", post_id)
        await archiver.drain()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    return logs


@pytest.mark.parametrize("where", ["same filesystem", "other filesystem"])
def test_identical_file_already_archived_is_success_under_the_same_name(
    ledger: Ledger, queue: Path, tmp_path: Path, other_fs: Path, where: str
) -> None:
    """A crash after the copy was renamed into place, before the source was removed."""
    archive = tmp_path / "posted" if where == "same filesystem" else other_fs
    video = pair(queue, "a2")
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    archive.mkdir()
    shutil.copy2(video, archive / "a2.mp4")
    logs = run_clear(ledger, archive, sha, post_id)
    assert sorted(listing(archive)) == ["a2.mp4", "a2.txt"]  # no a2.1.mp4
    assert not video.exists() and not video.with_suffix(".txt").exists()
    archived = [ln for ln in logs if ln["event"] == "clip_archived"]
    assert [Path(p).name for p in archived[0]["to"]] == ["a2.mp4", "a2.txt"]


def test_copy_cut_short_is_completed_under_the_same_name(
    ledger: Ledger, queue: Path, other_fs: Path
) -> None:
    """A ``kill -9`` mid-copy leaves a truncated temp file: the next attempt replaces it."""
    video = pair(queue, "a2", bitrate="1M")
    data = sha256(video)
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    other_fs.mkdir()
    part_name(other_fs / "a2.mp4").write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    run_clear(ledger, other_fs, sha, post_id)
    assert sorted(listing(other_fs)) == ["a2.mp4", "a2.txt"]  # no temp left, no a2.1.mp4
    assert sha256(other_fs / "a2.mp4") == data and not video.exists()


def test_another_clip_at_the_target_name_is_kept_and_this_one_numbered(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    archive.mkdir()
    video = pair(queue, "a2")
    data = sha256(video)
    older = bytearray(video.read_bytes())
    older[-1] ^= 0xFF  # another clip of the very same size: only the bytes tell them apart
    (archive / "a2.mp4").write_bytes(bytes(older))
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    run_clear(ledger, archive, sha, post_id)
    # The pair keeps one name: the caption goes beside its own video, not beside the other's.
    assert sorted(listing(archive)) == ["a2.1.mp4", "a2.1.txt", "a2.mp4"]
    assert sha256(archive / "a2.1.mp4") == data


def test_failed_move_leaves_the_files_in_place(ledger: Ledger, queue: Path, tmp_path: Path) -> None:
    archive = tmp_path / "posted"
    video = pair(queue, "kept")
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    archive.write_text("not a folder: the archive disk is not mounted")
    logs = run_clear(ledger, archive, sha, post_id)
    assert [ln["event"] for ln in logs] == ["archive_failed"]
    assert video.exists() and video.with_suffix(".txt").exists()
    assert archive.read_text() == "not a folder: the archive disk is not mounted"


def test_duplicate_dropped_while_its_clip_is_posted_is_archived_once_it_is(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    video = pair(queue, "first", seed=4)
    copy = queue / "second.mp4"
    shutil.copy(video, copy)
    copy.with_suffix(".txt").write_text("Same clip\n")
    sha, post_id = plan(ledger, video, queue)

    async def main() -> list[dict[str, Any]]:
        archiver = Archiver(ledger, archive, delete=False)
        with structlog.testing.capture_logs() as logs:
            archiver.duplicate(drop_of(copy, queue), sha, "default", "first.mp4", None)
            await archiver.drain()
            assert copy.exists()  # not before the clip is published
            publish(ledger, post_id)
            archiver.maybe_clear(sha, "default", post_id)
            await archiver.drain()
        return logs

    logs = asyncio.run(main())
    assert sorted(listing(archive)) == ["first.mp4", "first.txt", "second.mp4", "second.txt"]
    assert [ln["event"] for ln in logs] == ["duplicate_clip", "clip_archived", "clip_archived"]
    assert logs[2]["clip"] == "second.mp4" and logs[2]["duplicate"] is True


def test_duplicate_whose_move_failed_is_tried_again(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    archive.write_text("not a folder: the archive disk is not mounted")
    video = pair(queue, "first", seed=4)
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    video.rename(queue / "again.mp4")  # the clip was archived; the same bytes dropped again
    video.with_suffix(".txt").rename(queue / "again.txt")
    copy = queue / "again.mp4"

    async def main() -> list[dict[str, Any]]:
        archiver = Archiver(ledger, archive, delete=False)
        with structlog.testing.capture_logs() as logs:
            archiver.duplicate(drop_of(copy, queue), sha, "default", "first.mp4", None)
            await archiver.drain()
            assert copy.exists()
            archive.unlink()  # the disk is back
            archiver.retry_copies()  # what the reconcile sweep does
            await archiver.drain()
        return logs

    logs = asyncio.run(main())
    assert [ln["event"] for ln in logs] == ["duplicate_clip", "archive_failed", "clip_archived"]
    assert not copy.exists()
    assert sorted(listing(archive)) == ["again.mp4", "again.txt"]


def test_clip_asked_for_while_its_duplicate_moves_is_archived_in_the_same_drain(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    video = pair(queue, "first", seed=4)
    copy = queue / "second.mp4"
    shutil.copy(video, copy)
    copy.with_suffix(".txt").write_text("Same clip\n")
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)

    async def main() -> None:
        archiver = Archiver(ledger, archive, delete=False)
        archiver.duplicate(drop_of(copy, queue), sha, "default", "first.mp4", None)
        archiver.maybe_clear(sha, "default", post_id)  # while the duplicate's job runs
        await archiver.drain()

    asyncio.run(main())
    assert sorted(listing(archive)) == ["first.mp4", "first.txt", "second.mp4", "second.txt"]
    assert list(queue.iterdir()) == []


def test_duplicate_replaced_by_another_video_before_its_clip_is_published_stays(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    video = pair(queue, "first", seed=4)
    copy = queue / "second.mp4"
    shutil.copy(video, copy)
    copy.with_suffix(".txt").write_text("Same clip\n")
    sha, post_id = plan(ledger, video, queue)

    async def main() -> None:
        archiver = Archiver(ledger, archive, delete=False)
        archiver.duplicate(drop_of(copy, queue), sha, "default", "first.mp4", None)
        make_clip(tmp_path / "other.mp4", seed=5)
        os.replace(tmp_path / "other.mp4", copy)  # a new export under the copy's name
        publish(ledger, post_id)
        archiver.maybe_clear(sha, "default", post_id)
        await archiver.drain()

    asyncio.run(main())
    assert sorted(listing(archive)) == ["first.mp4", "first.txt"]
    assert copy.exists() and copy.with_suffix(".txt").exists()  # the new export is its own clip


def test_retry_after_the_video_went_ahead_puts_the_caption_beside_it(
    ledger: Ledger, queue: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "posted"
    archive.mkdir()
    video = pair(queue, "a3")
    (archive / "a3.mp4").write_bytes(b"another clip's video of that name")
    sha, post_id = plan(ledger, video, queue)
    publish(ledger, post_id)
    os.rename(video, archive / "a3.1.mp4")  # an earlier attempt moved the video, then died
    run_clear(ledger, archive, sha, post_id)
    assert sorted(listing(archive)) == ["a3.1.mp4", "a3.1.txt", "a3.mp4"]
    assert sorted(listing(queue)) == []
