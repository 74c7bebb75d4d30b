"""Shared helpers for the watcher tests: condition waits and callback recorders."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from atroposd.domain import ClipFiles
from atroposd.watch.mp4 import mp4_problem
from atroposd.watch.watcher import ClipWatcher


async def wait_until(cond: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``cond`` until it holds; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)


@dataclass
class Seen:
    """What ``on_ready`` saw at the moment it was called."""

    clip: ClipFiles
    size: int
    problem: str | None


@dataclass
class Recorder:
    """Records the watcher's callbacks."""

    ready: list[Seen] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)
    fail_next: int = 0

    async def on_ready(self, clip: ClipFiles) -> None:
        self.ready.append(Seen(clip, os.stat(clip.video).st_size, mp4_problem(clip.video)))
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("consumer failed")

    async def on_problem(self, path: Path, reason: str) -> None:
        self.problems.append((path, reason))

    def videos(self) -> list[Path]:
        return [s.clip.video for s in self.ready]


@contextlib.asynccontextmanager
async def running(watcher: ClipWatcher) -> AsyncIterator[asyncio.Task[None]]:
    """Run the watcher in a task until the block ends; ready once the start-up scan is done."""
    task = asyncio.create_task(watcher.run())
    try:
        await wait_until(lambda: watcher.scans_completed >= 1 or task.done())
        if task.done():
            task.result()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def one_more_scan(watcher: ClipWatcher) -> None:
    """Force a full rescan and wait until it has finished."""
    before = watcher.scans_completed
    watcher.request_rescan()
    await wait_until(lambda: watcher.scans_completed > before)


class FakeClock:
    """Wall and monotonic time that move only when told; the wall starts at the real time."""

    def __init__(self, wall_offset: float = 0.0) -> None:
        self._wall = time.time() + wall_offset
        self._mono = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._wall, UTC)

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds
