"""Watched folders that go away and come back (§5): deleted, replaced by a file, not there at
start-up. The periodic rescan is an hour away in every test, so only a re-established watch
(or the check that re-establishes it) can find the clips."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
import structlog

from atroposd.watch.folders import folder_id
from atroposd.watch.watcher import ClipWatcher

from .helpers import Recorder, one_more_scan, running, wait_until
from .test_watch_watcher import make_watcher


def drop(folder: Path, stem: str, video: bytes) -> Path:
    (folder / f"{stem}.txt").write_text("caption")
    (folder / f"{stem}.mp4").write_bytes(video)
    return folder / f"{stem}.mp4"


def unavailable(logs: list[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    return [
        e
        for e in logs
        if e["event"] == "watch_folder_unavailable" and e.get("folder") == str(folder)
    ]


def test_a_folder_deleted_and_recreated_is_watched_again(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            shutil.rmtree(up)
            up.mkdir()
            drop(up, "after", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert rec.ready[0].clip.video == up / "after.mp4"


def test_after_it_comes_back_inotify_finds_clips_without_a_rescan(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"

    async def main() -> None:
        async with running(watcher):
            shutil.rmtree(up)
            await wait_until(lambda: watcher.unavailable_folders == (up,))
            before = watcher.scans_completed
            up.mkdir()
            await wait_until(lambda: watcher.unavailable_folders == ())
            await wait_until(lambda: watcher.scans_completed > before)  # what came meanwhile
            scans = watcher.scans_completed
            drop(up, "late", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)
            assert watcher.scans_completed == scans  # found by the watch, not by a scan

    asyncio.run(main())


def test_a_folder_replaced_by_a_file_does_not_stop_the_watcher(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    """Deleted, then a file where it was (mkdir cannot bring it back): the watcher logs one
    line naming the folder, keeps watching the other root, and recovers when it is back."""
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"
    project = tmp_path / "out" / "bob" / "p"

    async def main() -> None:
        async with running(watcher) as task:
            shutil.rmtree(up)
            up.write_text("not a folder any more")
            for _ in range(3):
                before = watcher.scans_completed
                watcher.request_rescan()
                await wait_until(lambda b=before: task.done() or watcher.scans_completed > b)
                assert not task.done(), task.exception()
            project.mkdir(parents=True)
            drop(project, "other", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)
            up.unlink()
            up.mkdir()
            drop(up, "back", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 2)
            assert not task.done()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    assert [s.clip.video for s in rec.ready] == [project / "other.mp4", up / "back.mp4"]
    lines = unavailable(logs, up)
    assert len(lines) == 1, lines
    assert lines[0]["log_level"] in {"warning", "error"} and lines[0]["reason"]


@pytest.mark.parametrize("use_observer", [True, False])
def test_a_folder_missing_at_start_up_does_not_stop_the_watcher(
    tmp_path: Path, faststart_mp4: bytes, use_observer: bool
) -> None:
    """UPLOAD_FOLDER cannot be created (its parent is a file): the output root is still watched."""
    (tmp_path / "mnt").write_text("the drive is not mounted")
    rec = Recorder()
    watcher = ClipWatcher(
        upload_folder=tmp_path / "mnt" / "queue",
        out_root=tmp_path / "out",
        default_account="main",
        on_ready=rec.on_ready,
        on_problem=rec.on_problem,
        clock=make_watcher(tmp_path, rec)._clock,
        settle_seconds=0.3,
        rescan_seconds=3600.0 if use_observer else 0.3,
        use_observer=use_observer,
    )
    project = tmp_path / "out" / "bob" / "p"
    queue = tmp_path / "mnt" / "queue"

    async def main() -> None:
        async with running(watcher) as task:
            assert watcher.unavailable_folders == (queue,)
            project.mkdir(parents=True)
            drop(project, "a", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 1)
            (tmp_path / "mnt").unlink()
            queue.mkdir(parents=True)  # the drive is mounted
            drop(queue, "b", faststart_mp4)
            await wait_until(lambda: len(rec.ready) == 2)
            await one_more_scan(watcher)
            assert not task.done()

    with structlog.testing.capture_logs() as logs:
        asyncio.run(main())
    assert len(unavailable(logs, queue)) == 1
    assert [e["folder"] for e in logs if e["event"] == "watch_folder_available"] == [str(queue)]


def test_a_folder_renamed_away_is_not_watched_under_its_old_name(
    tmp_path: Path, faststart_mp4: bytes
) -> None:
    """inotify follows the renamed folder; its files are not in the queue any more, so they
    must not be reported under the queue's name. Renamed back, its clips are found."""
    rec = Recorder()
    watcher = make_watcher(tmp_path, rec)
    up = tmp_path / "upload_queue"
    away = tmp_path / "upload_queue.unplugged"

    async def main() -> None:
        async with running(watcher):
            up.rename(away)
            await wait_until(lambda: watcher.unavailable_folders == (up,))
            drop(away, "while_away", faststart_mp4)
            await one_more_scan(watcher)
            assert rec.ready == [] and rec.problems == []
            away.rename(up)
            await wait_until(lambda: len(rec.ready) == 1)

    asyncio.run(main())
    assert rec.ready[0].clip.video == up / "while_away.mp4"


def test_folder_id_says_why_a_folder_cannot_be_watched(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert folder_id(tmp_path / "file") == "not a folder"
    assert folder_id(tmp_path / "missing") == "No such file or directory"
    assert folder_id(tmp_path / "file" / "below") == "Not a directory"
    found = folder_id(tmp_path)
    assert isinstance(found, tuple) and found[1] == tmp_path.stat().st_ino
