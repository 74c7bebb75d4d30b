"""ClipWatcher end to end: a real inotify observer on real folders, real MP4 files."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from atroposd.clock import SystemClock
from atroposd.domain import ClipFiles
from atroposd.watch.roots import SYMLINK_OUTSIDE
from atroposd.watch.watcher import ClipWatcher

from .helpers import FakeClock, Recorder, one_more_scan, running, wait_until

SETTLE = 0.3


def make_watcher(tmp_path: Path, rec: Recorder, **kw: object) -> ClipWatcher:
    options: dict[str, object] = {
        "settle_seconds": SETTLE,
        "rescan_seconds": 3600.0,
        "clock": SystemClock(),
    }
    options.update(kw)
    return ClipWatcher(
        upload_folder=tmp_path / "upload_queue",
        out_root=tmp_path / "out",
        default_account="main",
        on_ready=rec.on_ready,
        on_problem=rec.on_problem,
        **options,  # type: ignore[arg-type]
    )


def age(path: Path, seconds: float = 3600) -> None:
    """Make a file look untouched for a while."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_missing_roots_are_created(tmp_path: Path) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path / "a" / "b", rec)

    async def main() -> None:
        async with running(watcher):
            assert all(root.is_dir() for root in watcher.roots)

    asyncio.run(main())


def test_files_dropped_in_are_emitted_once(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    folder = tmp_path / "upload_queue" / "alice"

    async def main() -> None:
        async with running(watcher):
            folder.mkdir()
            (folder / "clip.txt").write_text("hello #shorts")
            (folder / "clip.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)
            await one_more_scan(watcher)
            await one_more_scan(watcher)
        assert len(rec.ready) == 1

    asyncio.run(main())
    clip = rec.ready[0].clip
    assert clip == ClipFiles(folder / "clip.mp4", folder / "clip.txt", None, folder.parent, "alice")
    assert rec.problems == []


def test_atomic_replace_from_tmp_names(tmp_path: Path, plain_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            (up / "clip.mp4.tmp").write_bytes(plain_mp4)
            (up / ".clip.txt.Xy12Ab").write_text("caption")
            os.replace(up / ".clip.txt.Xy12Ab", up / "clip.txt")
            os.replace(up / "clip.mp4.tmp", up / "clip.mp4")
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert rec.ready[0].clip.account == "main"
    assert rec.ready[0].clip.video == up / "clip.mp4"


def test_mv_from_another_folder(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    staging = tmp_path / "staging"
    staging.mkdir()
    project = tmp_path / "out" / "bob" / "proj1"

    async def main() -> None:
        async with running(watcher):
            project.mkdir(parents=True)
            for name, data in (("c.mp4", faststart_mp4), ("c.txt", b"cap"), ("c.json", b"{}")):
                (staging / name).write_bytes(data)
                age(staging / name)  # mv keeps the old mtime; only the event says "new"
            for name in ("c.json", "c.txt", "c.mp4"):
                shutil.move(staging / name, project / name)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    clip = rec.ready[0].clip
    assert (clip.account, clip.sidecar, clip.rel) == ("bob", project / "c.json", "bob/proj1/c.mp4")


def test_a_folder_moved_in_is_scanned(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    staging = tmp_path / "carol"
    (staging / "batch").mkdir(parents=True)
    (staging / "batch" / "a.mp4").write_bytes(faststart_mp4)
    (staging / "batch" / "a.txt").write_text("caption")

    async def main() -> None:
        async with running(watcher):
            os.rename(staging, tmp_path / "upload_queue" / "carol")
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert rec.ready[0].clip.rel == "carol/batch/a.mp4"


def write_slowly(path: Path, data: bytes, pieces: int, gap: float, stall: float = 0.0) -> None:
    """Write ``data`` in ``pieces`` chunks ``gap`` seconds apart (a slow copy), optionally
    stalling half way."""
    step = -(-len(data) // pieces)
    with path.open("wb") as f:
        for i in range(0, len(data), step):
            f.write(data[i : i + step])
            f.flush()
            time.sleep(stall if stall and i // step == pieces // 2 else gap)


@pytest.mark.parametrize(("gap", "stall"), [(0.15, 0.0), (0.05, 1.2)])
def test_a_slow_or_stalled_writer_is_emitted_once_and_only_when_complete(
    tmp_path: Path, plain_mp4: bytes, faststart_mp4: bytes, gap: float, stall: float
) -> None:
    """1.5 s of writes (or a 1.2 s stall, longer than the settle) never emit a partial file."""
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, settle_seconds=0.5)
    up = tmp_path / "upload_queue"
    data = faststart_mp4 if stall else plain_mp4  # a cut faststart file passes ffprobe
    done = threading.Event()

    def writer() -> None:
        write_slowly(up / "slow.mp4", data, pieces=10, gap=gap, stall=stall)
        done.set()

    async def main() -> None:
        async with running(watcher):
            (up / "slow.txt").write_text("caption")
            await asyncio.to_thread(writer)
            await wait_until(lambda: len(rec.ready) == 1)
            await one_more_scan(watcher)
        assert done.is_set()

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started >= 1.0
    assert len(rec.ready) == 1
    seen = rec.ready[0]
    assert (seen.size, seen.problem) == (len(data), None)
    assert rec.problems == []


def test_startup_scan_picks_up_files_already_there(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    up = tmp_path / "upload_queue"
    project = tmp_path / "out" / "dana" / "p"
    for folder in (up, project):
        folder.mkdir(parents=True)
        (folder / "x.mp4").write_bytes(faststart_mp4)
        (folder / "x.txt").write_text("caption")
    watcher = make_watcher(tmp_path, rec)

    async def main() -> None:
        async with running(watcher):
            await wait_until(lambda: len(rec.ready) == 2)

    asyncio.run(main())
    assert {(s.clip.account, s.clip.rel) for s in rec.ready} == {
        ("main", "x.mp4"),
        ("dana", "dana/p/x.mp4"),
    }


def test_caption_missing_is_reported_once_then_ready(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            (up / "lonely.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.problems) == 1)
            await one_more_scan(watcher)
            await one_more_scan(watcher)
            (up / "lonely.txt").write_text("here it is")
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert rec.problems == [(up / "lonely.mp4", "caption missing: expected lonely.txt")]


def test_problems_are_reported_once_across_rescans(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(faststart_mp4)

    async def main() -> None:
        async with running(watcher):
            (up / "bad name").mkdir()
            (up / "bad name" / "a.mp4").write_bytes(faststart_mp4)
            (up / "bad name" / "a.txt").write_text("caption")
            (up / "link.mp4").symlink_to(outside)
            (up / "link.txt").write_text("caption")
            (up / "empty.mp4").write_bytes(b"")
            (up / "empty.txt").write_text("caption")
            await wait_until(lambda: len(rec.problems) == 3)
            await one_more_scan(watcher)
            await one_more_scan(watcher)

    asyncio.run(main())
    reasons = dict(rec.problems)
    assert len(reasons) == len(rec.problems) == 3
    assert reasons[up / "bad name" / "a.mp4"].startswith("invalid account folder name 'bad name'")
    assert reasons[up / "link.mp4"] == SYMLINK_OUTSIDE
    assert reasons[up / "empty.mp4"] == "empty video"
    assert rec.ready == []


def test_a_failing_consumer_does_not_stop_the_watcher(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder(fail_next=1)
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher) as task:
            (up / "a.txt").write_text("caption")
            (up / "a.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)
            (up / "b.txt").write_text("caption")
            (up / "b.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 2)
            assert not task.done()
            await one_more_scan(watcher)  # the failed one is offered again
            await wait_until(lambda: len(rec.ready) == 3)

    asyncio.run(main())
    assert [v.name for v in rec.videos()] == ["a.mp4", "b.mp4", "a.mp4"]


def test_without_the_observer_periodic_rescans_find_clips(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, use_observer=False, rescan_seconds=0.2)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            (up / "a.txt").write_text("caption")
            (up / "a.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())


def test_scan_once_returns_pairs_once_they_are_quiet(tmp_path: Path, plain_mp4: bytes) -> None:
    clock = FakeClock()
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec, clock=clock)
    up = tmp_path / "upload_queue" / "erin"
    up.mkdir(parents=True)
    (up / "a.mp4").write_bytes(plain_mp4)
    (up / "a.txt").write_text("caption")
    (up / "nocap.mp4").write_bytes(plain_mp4)

    async def main() -> None:
        assert await watcher.scan_once() == []  # just written: not quiet yet
        clock.advance(SETTLE / 2)
        assert await watcher.scan_once() == []
        clock.advance(SETTLE / 2 + 0.01)
        ready = await watcher.scan_once()
        assert [(c.video.name, c.account) for c in ready] == [("a.mp4", "erin")]
        assert await watcher.scan_once() == []  # not handed out twice

    asyncio.run(main())
    assert rec.problems == [(up / "nocap.mp4", "caption missing: expected nocap.txt")]
    assert rec.ready == []  # scan_once hands pairs back instead of calling on_ready


def test_scan_once_takes_files_untouched_for_a_while_at_once(
    tmp_path: Path, plain_mp4: bytes
) -> None:
    """Quiet is judged by the files' own times: an hour-old pair needs no waiting."""
    rec = Recorder()
    up = tmp_path / "upload_queue"
    up.mkdir()
    (up / "a.mp4").write_bytes(plain_mp4)
    (up / "a.txt").write_text("caption")
    (up / "a.json").write_text("{}")
    watcher = make_watcher(tmp_path, rec, clock=FakeClock(wall_offset=3600))
    ready = asyncio.run(watcher.scan_once())
    assert ready == [ClipFiles(up / "a.mp4", up / "a.txt", up / "a.json", up, "main")]


def test_nested_folders_made_at_once_do_not_break_the_observer(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    """``mkdir -p`` races inside watchdog (a RuntimeWarning on its thread) are survived."""
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            for i in range(10):
                deep = up / f"acct{i}" / "a" / "b" / "c"
                deep.mkdir(parents=True)
                (deep / "x.txt").write_text("caption")
                (deep / "x.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 10)
            (up / "late.txt").write_text("caption")
            (up / "late.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 11)

    asyncio.run(main())
    assert {s.clip.account for s in rec.ready} == {f"acct{i}" for i in range(10)} | {"main"}


def test_a_dead_observer_is_restarted(tmp_path: Path, faststart_mp4: bytes) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            observer = watcher._observer
            assert observer is not None and observer.alive
            await asyncio.to_thread(observer.stop)  # as if its thread had died
            assert not observer.alive
            watcher.request_rescan()  # wake the loop; it notices and restarts the observer
            await wait_until(lambda: watcher._observer not in (None, observer))
            (up / "a.txt").write_text("caption")
            (up / "a.mp4").write_bytes(faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
