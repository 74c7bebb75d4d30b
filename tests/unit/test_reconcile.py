"""The reconcile sweep on a real ledger and real files: it looks only at rows that need it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from atroposd.bus import Bus
from atroposd.domain import FileIdentity, PostState
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.reconcile import Reconciler
from atroposd.pipeline.retry import RetryPolicy
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger

from .support import FakeClock

S = PostState


@dataclass
class World:
    conn: sqlite3.Connection
    ledger: Ledger
    clock: FakeClock
    inbox: Path
    archive: Path
    publisher: Publisher | None = None

    def reconciler(self) -> tuple[Reconciler, Archiver]:
        """A fresh sweep, as a new daemon process builds it."""
        archiver = Archiver(self.ledger, self.archive, delete=False)
        publisher = Publisher(
            self.ledger,
            {},
            Bus(),
            self.clock,
            RetryPolicy(),
            archiver,
            lambda account, platform: {},
            lambda account, platform: True,
        )
        self.publisher = publisher
        return Reconciler(self.ledger, publisher, archiver, self.clock), archiver

    def published(self, name: str) -> tuple[int, Drop, str]:
        """A clip published on YouTube whose files are still in the inbox (no archive yet)."""
        video, caption = self.inbox / f"{name}.mp4", self.inbox / f"{name}.txt"
        video.write_bytes(name.encode() * 1000)
        caption.write_text(f"caption of {name}")
        drop = Drop(video, caption, None, self.inbox, video.name, "c", None, FileIdentity.of(video))
        sha = hashlib.sha256(video.read_bytes()).hexdigest()
        new, _ = self.ledger.plan(sha, video.stat().st_size, "default", ["youtube"], drop)
        for state in (S.READY, S.UPLOADING, S.PUBLISHED):
            post = self.ledger.get(new[0].id)
            assert post is not None
            assert self.ledger.transition(post.id, [post.state], state) is not None
        return new[0].id, drop, sha


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    conn = connect(tmp_path / "state" / "ledger.sqlite3")
    clock = FakeClock()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    try:
        yield World(conn, Ledger(conn, clock), clock, inbox, tmp_path / "archive")
    finally:
        conn.close()


def _count_rows(conn: sqlite3.Connection) -> list[int]:
    """Count the rows SQLite hands to Python from now on (the ledger reads sqlite3.Row)."""
    seen = [0]

    def factory(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> sqlite3.Row:
        seen[0] += 1
        return sqlite3.Row(cursor, row)

    conn.row_factory = factory
    return seen


def _bulk_published_and_archived(conn: sqlite3.Connection, gone: Path, n: int) -> None:
    """``n`` published posts whose files were archived long ago (one statement each table)."""
    at = "2026-01-01T00:00:00.000000+00:00"
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO clips(sha256, size, created_at) SELECT printf('%064d', i), 1, ? FROM n",
        (n, at),
    )
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO posts(clip_sha256, account, platform, state, video_path, caption_path,"
        " root, clip_rel, caption, created_at, updated_at)"
        " SELECT printf('%064d', i), 'default', 'youtube', 'published',"
        " ? || '/c' || i || '.mp4', ? || '/c' || i || '.txt', ?, 'c' || i || '.mp4', '', ?, ?"
        " FROM n",
        (n, str(gone), str(gone), str(gone), at, at),
    )


def test_a_sweep_over_10000_archived_posts_reads_no_row_once_they_were_seen_gone(
    world: World,
) -> None:
    _bulk_published_and_archived(world.conn, world.inbox / "gone", 10_000)

    async def main() -> tuple[int, int, int]:
        first, _ = world.reconciler()
        looked_first = first.finish_archiving()  # rows from before cleared_at existed
        later, archiver = world.reconciler()  # a restart
        seen = _count_rows(world.conn)
        looked_later = later.finish_archiving()
        await later.step()  # the whole periodic pass
        await archiver.drain()
        return looked_first, looked_later, seen[0]

    looked_first, looked_later, rows_read = asyncio.run(main())
    assert looked_first == 10_000
    assert looked_later == 0
    assert rows_read == 0  # so no drop read, no stat of any file


def test_files_left_by_a_crash_are_archived_then_never_looked_at_again(world: World) -> None:
    pid, drop, _ = world.published("left")

    async def main() -> list[int]:
        rec, archiver = world.reconciler()
        looked = []
        for _ in range(3):
            looked.append(rec.finish_archiving())
            await archiver.drain()
        return looked

    looked = asyncio.run(main())
    assert not drop.video_path.exists() and not drop.caption_path.exists()
    assert (world.archive / "left.mp4").read_bytes() == b"left" * 1000
    assert looked[0] == 1 and looked[-1] == 0
    assert world.ledger.uncleared(S.PUBLISHED) == []
    post = world.ledger.get(pid)
    assert post is not None and post.state is S.PUBLISHED


def test_a_failed_archive_is_looked_at_again_until_it_works(world: World) -> None:
    _, drop, _ = world.published("stuck")
    world.archive.write_text("a file where the archive folder should be")

    async def sweeps(n: int) -> list[int]:
        rec, archiver = world.reconciler()
        looked = []
        for _ in range(n):
            looked.append(rec.finish_archiving())
            await archiver.drain()
        return looked

    assert asyncio.run(sweeps(3)) == [1, 1, 1]
    assert drop.video_path.exists()
    world.archive.unlink()
    assert asyncio.run(sweeps(3))[-1] == 0
    assert (world.archive / "stuck.mp4").exists() and not drop.video_path.exists()


def test_files_that_came_back_are_looked_at_again(world: World) -> None:
    pid, drop, sha = world.published("back")
    world.ledger.mark_cleared([pid])  # say they were archived, then copied back by the user

    async def sweep() -> int:
        rec, archiver = world.reconciler()
        looked = rec.finish_archiving()
        assert looked == 0
        world.ledger.recheck_files(sha, "default")
        looked = rec.finish_archiving()
        await archiver.drain()
        return looked

    assert asyncio.run(sweep()) == 1
    assert not drop.video_path.exists()
    assert (world.archive / "back.mp4").exists()


def test_a_newer_file_at_the_path_is_left_alone_and_not_looked_at_again(world: World) -> None:
    _, drop, _ = world.published("reused")
    drop.video_path.unlink()
    drop.video_path.write_bytes(b"a new export under the same name")

    async def sweeps() -> list[int]:
        rec, archiver = world.reconciler()
        looked = []
        for _ in range(2):
            looked.append(rec.finish_archiving())
            await archiver.drain()
        return looked

    assert asyncio.run(sweeps()) == [1, 0]
    assert drop.video_path.read_bytes() == b"a new export under the same name"
    assert world.ledger.uncleared(S.PUBLISHED) == []


def test_problems_of_files_gone_are_forgotten_so_a_new_one_is_reported(world: World) -> None:
    present, missing = world.inbox / "bad.mp4", world.inbox / "was-here.mp4"
    dangling = world.inbox / "link.mp4"
    present.write_bytes(b"x")
    os.symlink(world.inbox / "nowhere.mp4", dangling)
    for path in (present, missing, dangling):
        assert world.ledger.note_problem(path, "caption missing")

    async def step() -> None:
        rec, _ = world.reconciler()
        await rec.step()

    asyncio.run(step())
    assert sorted(p for p, _ in world.ledger.problems()) == [str(present), str(dangling)]
    # the same problem with a new file at that path is news again
    assert world.ledger.note_problem(missing, "caption missing") is True
    assert world.ledger.note_problem(present, "caption missing") is False


def test_the_sweep_arms_posts_a_crash_left_planned_and_kicks_only_due_ones(world: World) -> None:
    from datetime import timedelta

    ids = []
    for name in ("a", "b", "c"):
        video = world.inbox / f"{name}.mp4"
        drop = Drop(video, video.with_suffix(".txt"), None, world.inbox, video.name, "c", None)
        new, _ = world.ledger.plan(name * 64, 1, "default", ["youtube"], drop)
        ids.append(new[0].id)
    world.ledger.set_fields(ids[1], retry_at=world.clock.now() + timedelta(minutes=5))

    async def sweep() -> tuple[int, int]:
        rec, _ = world.reconciler()
        first = rec.sweep()
        world.clock.advance(5 * 60)
        second = rec.sweep(lambda post: post.id != ids[0])
        assert world.publisher is not None
        await world.publisher.drain()
        return first, second

    # a and c; then b only: a is not wanted and c is still with a worker
    assert asyncio.run(sweep()) == (2, 1)
    assert [world.ledger.get(i).state for i in ids] == [S.READY] * 3  # type: ignore[union-attr]
