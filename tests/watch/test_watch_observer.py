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
        self.overflows = 0

    def notify(self, path: Path, is_dir: bool) -> None:
        self.paths.append((path, is_dir))

    def overflow(self) -> None:
        self.overflows += 1


def start(root: Path, events: Events) -> FolderObserver:
    observer = FolderObserver(
        [root], loop=asyncio.get_running_loop(), notify=events.notify, on_overflow=events.overflow
    )
    observer.start()
    return observer


def test_reads_are_not_events_writes_and_moves_are(tmp_path: Path) -> None:
    """The event filter keeps open/close-nowrite out (the watchdog 7.1 overflow loop)."""
    root = tmp_path / "root"
    events = Events()

    async def main() -> None:
        observer = start(root, events)  # creates the missing root
        try:
            (root / "sub").mkdir()
            await wait_until(lambda: (root / "sub", True) in events.paths)
            (root / "sub" / "a.mp4").write_bytes(b"data")
            await wait_until(lambda: len(events.paths) >= 3)  # created + closed
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
