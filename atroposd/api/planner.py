"""A folder's clips planned in the background, after ``POST /api/jobs`` has answered 202.

Planning a clip probes it (ffprobe) and hashes it: a folder of hundreds took minutes inside the
request. The request now checks every path (400/409, nothing planned) and hands the pairs here.
One folder is planned at a time, with at most ``QUEUE_SIZE`` more waiting (a full queue is a
429). The worker is a task of the API's own supervised job, so the daemon's stop cancels it: what
was not planned yet is logged (``api_planning_stopped``) and found again by the watcher's scan at
the next start, as any clip dropped into the folders.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

import structlog

from atroposd.api.enqueue import BadRequest, Conflict, admit
from atroposd.app import App
from atroposd.domain import ClipFiles

log = structlog.get_logger("atroposd")
QUEUE_SIZE = 2  # folders waiting behind the one being planned


@dataclass(frozen=True)
class Batch:
    """The checked pairs of one request and what the request asked for them."""

    pairs: list[ClipFiles]
    platforms: list[str] | None
    when: datetime | None


class Planner:
    """The background worker for folder requests (``run`` is its task)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def offer(self, batch: Batch) -> bool:
        """Queue ``batch``; False when the queue is full (the caller answers 429)."""
        try:
            self._queue.put_nowait(batch)
        except asyncio.QueueFull:
            return False
        return True

    async def run(self) -> None:
        """Plan queued folders one at a time until cancelled."""
        while True:
            batch = await self._queue.get()
            try:
                await self._plan(batch)
            except Exception as exc:  # the worker goes on with the next folder
                log.error("api_plan_failed", error=type(exc).__name__, detail=str(exc)[:200])
            finally:
                self._queue.task_done()

    async def _plan(self, batch: Batch) -> None:
        done = 0
        try:
            for files in batch.pairs:
                try:
                    await admit(self.app, files, batch.platforms, batch.when)
                except (BadRequest, Conflict) as exc:  # changed since the request checked it
                    log.warning("api_plan_skipped", clip=files.rel, reason=str(exc))
                done += 1
        except asyncio.CancelledError:
            left = len(batch.pairs) - done + sum(len(b.pairs) for b in self._drain())
            log.info(
                "api_planning_stopped",
                planned=done,
                left=left,
                note="the clips not planned are found by the watcher's scan at the next start",
            )
            raise
        log.info("api_folder_planned", clips=len(batch.pairs))

    def _drain(self) -> list[Batch]:
        out: list[Batch] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out
