"""A file still open for writing is never ready (§4.8): real ffmpeg fragmented MP4s, real
inotify, the bytes written by a test thread that keeps the file open through its pause.

The pause sits exactly at a fragment boundary, where the top-level box walk passes. The fake
clock makes the pause as long as the test wants without waiting for it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from atroposd.watch.watcher import ClipWatcher

from .fragmp4 import SECONDS, PausingWriter, fragment_ends, with_mehd, without_mfra
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
