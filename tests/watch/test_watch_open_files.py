"""A file still open for writing is never ready (§4.8): real ffmpeg fragmented MP4s, real
inotify, the bytes written by a test thread that keeps the file open through its pause.

The pause sits exactly at a fragment boundary, where the top-level box walk passes. The fake
clock makes the pause as long as the test wants without waiting for it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from atroposd.watch.mp4 import mp4_check
from atroposd.watch.pairing import FileState, Pairing, Ready
from atroposd.watch.watcher import ClipWatcher

from .fragmp4 import SECONDS, HeldWrite, PausingWriter, fragment_ends, with_mehd, without_mfra
from .helpers import FakeClock, Recorder, one_more_scan, running, wait_until
from .test_watch_watcher import make_watcher


def test_a_copy_paused_at_a_fragment_boundary_is_ready_only_once_closed(
    tmp_path: Path, frag_mp4: bytes
) -> None:
    clock = FakeClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock)
    up = tmp_path / "upload_queue"
    video = up / "rec.mp4"
    writer = PausingWriter(video, frag_mp4, fragment_ends(frag_mp4)[1])

    async def main() -> None:
        async with running(watcher):
            (up / "rec.txt").write_text("caption")
            copy = asyncio.create_task(asyncio.to_thread(writer.run))
            try:
                await asyncio.to_thread(writer.paused.wait, 60)
                clock.advance(5)  # quiet for far longer than the settle period
                await one_more_scan(watcher)
                assert rec.ready == []
                await wait_until(lambda: video in watcher.open_for_writing)
                clock.advance(3600)  # an hour-long pause: still open, still not ready
                await one_more_scan(watcher)
                assert rec.ready == []
            finally:
                writer.resume.set()
                await copy
            await wait_until(lambda: len(rec.ready) == 1)
            await one_more_scan(watcher)
            assert video not in watcher.open_for_writing

    asyncio.run(main())
    assert [(s.size, s.problem) for s in rec.ready] == [(len(frag_mp4), None)]
    assert rec.problems == []


class RealWallClock(FakeClock):
    """Monotonic time moves only when told, the wall is the real one: a file written after a
    fake pause has a real mtime, and must not look as old as the pause to the watcher."""

    def now(self) -> datetime:
        return datetime.now(UTC)


async def write_and_close(watcher: ClipWatcher, path: Path, data: bytes, mode: str) -> None:
    """Write ``data`` to ``path`` in a thread, close it, and return once the watcher has seen
    the write and then the close (and stated the file in a full scan since)."""
    writer = HeldWrite(path, data, mode)
    task = asyncio.create_task(asyncio.to_thread(writer.run))
    try:
        await wait_until(lambda: path in watcher.open_for_writing)
    finally:
        writer.release.set()
        await task
    await wait_until(lambda: path not in watcher.open_for_writing)
    await one_more_scan(watcher)


def test_closed_at_a_fragment_boundary_then_appended_waits_the_fragmented_settle(
    tmp_path: Path, frag_mp4: bytes
) -> None:
    """Written in two parts (``curl -C -``, ``wget -c``, ``cat seg >> out.mp4``): closed at a
    fragment boundary, a pause longer than SETTLE_SECONDS (2) and shorter than
    FRAGMENTED_SETTLE_SECONDS (30), then the rest appended. No mfra, no mehd: nothing in the
    file proves its end, so the writer's close does not either."""
    data = without_mfra(frag_mp4)
    cut = fragment_ends(data)[1]
    clock = RealWallClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock, settle_seconds=2.0)
    up = tmp_path / "upload_queue"
    video = up / "rec.mp4"

    async def main() -> None:
        async with running(watcher):
            (up / "rec.txt").write_text("caption")
            await write_and_close(watcher, video, data[:cut], "wb")
            clock.advance(10)  # closed and quiet 10 s: the old watcher published 2 of 4 s here
            await one_more_scan(watcher)
            clock.advance(19)  # 29 s
            await one_more_scan(watcher)
            assert rec.ready == []
            await write_and_close(watcher, video, data[cut:], "ab")
            clock.advance(5)
            await one_more_scan(watcher)
            assert rec.ready == []  # whole now, but nothing says so: 30 s of quiet again
            clock.advance(26)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert [(s.size, s.problem) for s in rec.ready] == [(len(data), None)]
    assert rec.problems == []


def test_closed_at_a_fragment_boundary_then_appended_up_to_its_mfra(
    tmp_path: Path, frag_mp4: bytes
) -> None:
    """The same two-part copy of ffmpeg's own output: the appended rest ends in its mfra, which
    proves the end, so the short settle is enough once the append is closed."""
    cut = fragment_ends(frag_mp4)[1]
    clock = RealWallClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock, settle_seconds=2.0)
    up = tmp_path / "upload_queue"
    video = up / "rec.mp4"

    async def main() -> None:
        async with running(watcher):
            (up / "rec.txt").write_text("caption")
            await write_and_close(watcher, video, frag_mp4[:cut], "wb")
            clock.advance(10)
            await one_more_scan(watcher)
            assert rec.ready == []
            await write_and_close(watcher, video, frag_mp4[cut:], "ab")
            clock.advance(3)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert [(s.size, s.problem) for s in rec.ready] == [(len(frag_mp4), None)]
    assert rec.problems == []


def test_closed_short_of_its_mehd_is_never_ready_until_appended(
    tmp_path: Path, frag_mp4: bytes
) -> None:
    """Closed at a fragment boundary with a mehd that says longer: incomplete, however long the
    pause (40 s: past the 30 s after which it is reported); whole once the rest is appended."""
    full = with_mehd(without_mfra(frag_mp4), SECONDS)
    cut = fragment_ends(full)[1]
    clock = RealWallClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock, settle_seconds=2.0)
    up = tmp_path / "upload_queue"
    video = up / "rec.mp4"

    async def main() -> None:
        async with running(watcher):
            (up / "rec.txt").write_text("caption")
            await write_and_close(watcher, video, full[:cut], "wb")
            clock.advance(40)
            await wait_until(lambda: len(rec.problems) == 1)
            assert rec.ready == []
            await write_and_close(watcher, video, full[cut:], "ab")
            clock.advance(3)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert [(s.size, s.problem) for s in rec.ready] == [(len(full), None)]
    why = "truncated: the fragments cover 2.0 s of the 4.0 s its mehd declares"
    assert rec.problems == [(video, f"video incomplete: {why}")]


def test_the_longer_wait_is_told_once_per_content(tmp_path: Path, frag_mp4: bytes) -> None:
    data = without_mfra(frag_mp4)
    cut = fragment_ends(data)[1]
    video, caption = tmp_path / "rec.mp4", tmp_path / "rec.txt"
    caption.write_text("caption")
    p = Pairing(settle_seconds=2.0, fragmented_settle_seconds=30.0)

    def see(path: Path, mono: float) -> None:
        st = path.stat()
        state = FileState(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        p.observe(path, state, mono=mono, wall=st.st_mtime_ns / 1e9)  # written just now

    video.write_bytes(data[:cut])
    see(caption, 0)
    see(video, 0)
    p.written(video, False)
    assert p.poll(1, mp4_check) == [] and p.take_open_ended() == []  # within the settle
    assert p.poll(10, mp4_check) == [] and p.take_open_ended() == [video]
    assert p.poll(20, mp4_check) == [] and p.take_open_ended() == []
    with video.open("ab") as f:
        f.write(data[cut:])
    see(video, 25)
    p.written(video, False)
    assert p.poll(30, mp4_check) == [] and p.take_open_ended() == [video]  # new content
    assert p.poll(55, mp4_check) == [Ready(video, caption, None)]
    assert p.take_open_ended() == []


def test_found_by_a_rescan_short_of_its_mehd_is_not_ready(tmp_path: Path, frag_mp4: bytes) -> None:
    """The daemon starts while the copy is paused: no events; an hour passes."""
    full = with_mehd(without_mfra(frag_mp4), SECONDS)
    cut = fragment_ends(full)[1]
    up = tmp_path / "upload_queue"
    up.mkdir()
    video = up / "rec.mp4"
    video.write_bytes(full[:cut])
    (up / "rec.txt").write_text("caption")
    clock = FakeClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock)

    async def main() -> None:
        async with running(watcher):
            clock.advance(3600)
            await one_more_scan(watcher)
            assert rec.ready == []
            with video.open("ab") as f:  # the copy goes on
                f.write(full[cut:])
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert [(s.size, s.problem) for s in rec.ready] == [(len(full), None)]
    why = "truncated: the fragments cover 2.0 s of the 4.0 s its mehd declares"
    assert rec.problems == [(video, f"video incomplete: {why}")]


def test_found_by_a_rescan_without_mehd_waits_the_fragmented_settle(
    tmp_path: Path, frag_mp4: bytes
) -> None:
    """Nothing proves the end: a fresh open-ended file needs FRAGMENTED_SETTLE_SECONDS (30)."""
    data = without_mfra(frag_mp4)
    up = tmp_path / "upload_queue"
    up.mkdir()
    (up / "rec.mp4").write_bytes(data[: fragment_ends(data)[1]])
    (up / "rec.txt").write_text("caption")
    clock = FakeClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock)

    async def main() -> None:
        async with running(watcher):
            clock.advance(5)
            await one_more_scan(watcher)
            assert rec.ready == []
            clock.advance(20)
            await one_more_scan(watcher)
            assert rec.ready == []
            clock.advance(6)
            await one_more_scan(watcher)
            assert len(rec.ready) == 1  # the documented fallback: quiet 30 s and nothing else

    asyncio.run(main())


def test_found_by_a_rescan_with_mfra_needs_only_the_settle(tmp_path: Path, frag_mp4: bytes) -> None:
    up = tmp_path / "upload_queue"
    up.mkdir()
    (up / "rec.mp4").write_bytes(frag_mp4)
    (up / "rec.txt").write_text("caption")
    clock = FakeClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock)

    async def main() -> None:
        async with running(watcher):
            clock.advance(1)
            await one_more_scan(watcher)
            assert len(rec.ready) == 1

    asyncio.run(main())


def test_the_fragmented_settle_is_a_setting(tmp_path: Path, frag_mp4: bytes) -> None:
    data = without_mfra(frag_mp4)
    up = tmp_path / "upload_queue"
    up.mkdir()
    (up / "rec.mp4").write_bytes(data)
    (up / "rec.txt").write_text("caption")
    clock = FakeClock()
    rec = Recorder()
    watcher: ClipWatcher = make_watcher(tmp_path, rec, clock=clock, fragmented_settle_seconds=120.0)

    async def main() -> None:
        async with running(watcher):
            clock.advance(100)
            await one_more_scan(watcher)
            assert rec.ready == []
            clock.advance(21)
            await one_more_scan(watcher)
            assert len(rec.ready) == 1

    asyncio.run(main())
