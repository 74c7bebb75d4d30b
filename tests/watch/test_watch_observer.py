"""FolderObserver: watchdog reduced to path notifications on the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from atroposd.watch.observer import FolderObserver

from .helpers import wait_until


class Events:
    def __init__(self) -> None:
        self.paths: list[tuple[Path, bool]] = []
        self.writes: list[tuple[Path, bool | None]] = []
        self.overflows = 0

    def notify(self, path: Path, is_dir: bool, writing: bool | None) -> None:
        self.paths.append((path, is_dir))
        if not is_dir:
            self.writes.append((path, writing))

    def overflow(self) -> None:
        self.overflows += 1


def start(root: Path, events: Events) -> FolderObserver:
    observer = FolderObserver(
        loop=asyncio.get_running_loop(), notify=events.notify, on_overflow=events.overflow
    )
    observer.start()
    root.mkdir(parents=True, exist_ok=True)
    observer.watch(root)
    return observer


def test_reads_are_not_events_writes_and_moves_are(tmp_path: Path) -> None:
    """The event filter keeps open/close-nowrite out (the watchdog 7.1 overflow loop)."""
    root = tmp_path / "root"
    events = Events()

    async def main() -> None:
        observer = start(root, events)
        try:
            (root / "sub").mkdir()
            await wait_until(lambda: (root / "sub", True) in events.paths)
            (root / "sub" / "a.mp4").write_bytes(b"data")
            await wait_until(lambda: len(events.paths) >= 4)  # created + modified + closed
            events.paths.clear()
            (root / "sub" / "a.mp4").read_bytes()
            os.listdir(root / "sub")
            os.replace(root / "sub" / "a.mp4", root / "sub" / "b.mp4")
            await wait_until(lambda: len(events.paths) >= 2)
            assert events.paths[:2] == [
                (root / "sub" / "a.mp4", False),
                (root / "sub" / "b.mp4", False),
            ]
            assert observer.alive
        finally:
            await asyncio.to_thread(observer.stop)
        assert not observer.alive

    asyncio.run(main())


def test_overflow_log_record_requests_a_rescan(tmp_path: Path) -> None:
    events = Events()
    watchdog_log = logging.getLogger("watchdog.observers.inotify_c")

    async def main() -> None:
        observer = start(tmp_path, events)
        try:
            watchdog_log.warning("Inotify queue overflowed; filesystem events were lost")
            await wait_until(lambda: events.overflows == 1)
        finally:
            await asyncio.to_thread(observer.stop)
        watchdog_log.warning("Inotify queue overflowed; filesystem events were lost")

    asyncio.run(main())
    assert events.overflows == 1  # the alarm is removed with the observer


def test_writes_say_open_until_closed_and_metadata_changes_say_nothing(tmp_path: Path) -> None:
    """modified → a writer has it open; closed → done; chmod/utime (IN_ATTRIB) → no event."""
    events = Events()
    clip = tmp_path / "a.mp4"

    async def main() -> None:
        observer = start(tmp_path, events)
        try:
            with clip.open("wb") as f:
                f.write(b"x" * 1000)
                f.flush()
                await wait_until(lambda: (clip, True) in events.writes)
                assert (clip, False) not in events.writes
            await wait_until(lambda: events.writes[-1] == (clip, False))
            events.writes.clear()
            os.chmod(clip, 0o600)
            os.utime(clip, (0, 0))
            (tmp_path / "marker.txt").write_text("after the metadata changes")
            await wait_until(lambda: (tmp_path / "marker.txt", False) in events.writes)
            assert [w for w in events.writes if w[0] == clip] == []
        finally:
            await asyncio.to_thread(observer.stop)

    asyncio.run(main())


def test_a_deleted_root_stops_being_watched_and_can_be_watched_again(tmp_path: Path) -> None:
    root = tmp_path / "root"
    events = Events()

    async def main() -> None:
        observer = start(root, events)
        try:
            assert observer.watching(root)
            root.rmdir()
            await wait_until(lambda: not observer.watching(root))  # IN_DELETE_SELF
            root.mkdir()
            await asyncio.to_thread(observer.watch, root)
            assert observer.watching(root)
            (root / "b.txt").write_text("seen again")
            await wait_until(lambda: (root / "b.txt", False) in events.paths)
            await asyncio.to_thread(observer.unwatch, root)
            assert not observer.watching(root)
        finally:
            await asyncio.to_thread(observer.stop)

    asyncio.run(main())
