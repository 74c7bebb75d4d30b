"""The sweep that covers lost events, crashes and sleep/resume (start-up and every minute)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from atroposd.clock import Clock
from atroposd.domain import Post, PostState
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.files import pending, replaced
from atroposd.pipeline.publisher import Publisher
from atroposd.store.ledger import Ledger

log = structlog.get_logger("atroposd")
S = PostState
BATCH = 25  # published posts per slice of the archiving pass (a few ms of the loop)


class Reconciler:
    """Re-arms due posts, resumes uploads a dead process left behind, finishes archiving."""

    def __init__(
        self, ledger: Ledger, publisher: Publisher, archiver: Archiver, clock: Clock
    ) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._archiver = archiver
        self._clock = clock

    def sweep(self, wanted: Callable[[Post], bool] = lambda post: True) -> int:
        """One pass over ``wanted`` posts; returns how many were handed to the publisher."""
        now, busy, kicked = self._clock.now(), self._publisher.busy, 0
        for post in self._ledger.list_posts([S.PLANNED]):
            if post.id not in busy and wanted(post):  # planned before a crash, never armed
                self._ledger.transition(post.id, [S.PLANNED], S.READY, note="no render needed")
        # An uploading post no worker holds was cut short by a previous process: the
        # publisher resumes it from its saved session.
        due = [S.READY, S.UPLOADING, S.PROCESSING, S.PUBLISHING, S.SCHEDULED]  # scheduled: confirm
        for post in self._ledger.due(now, due):
            if post.state is S.READY and self._publisher.hold(post):
                continue  # waits for its posting slot: the scheduler kicks it then
            if post.id not in busy and wanted(post):
                self._publisher.kick(post.id)
                kicked += 1
        return kicked

    def finish_archiving(self) -> int:
        """Clear drops whose posts were all published before a crash could archive them.

        Looks only at published posts whose files were not yet seen gone (``cleared_at``):
        once gone, a post is never looked at again, across restarts too, so months of posts
        cost one stat each in all. Returns how many posts were looked at.
        """
        return sum(self._archive_slices())

    def _archive_slices(self) -> Iterator[int]:
        """Do the archiving pass ``BATCH`` posts at a time, yielding after each slice."""
        after = 0
        while batch := self._ledger.uncleared(S.PUBLISHED, after, BATCH):
            gone = []
            for post, drop in batch:
                if pending(drop) and not replaced(drop):
                    self._archiver.maybe_clear(post.clip_sha256, post.account, post.id)
                    if pending(drop):
                        continue  # moving (or failed): looked at again at the next sweep
                gone.append(post.id)  # archived, deleted, or a newer file's now
            self._ledger.mark_cleared(gone)
            after = batch[-1][0].id
            yield len(batch)
        self._archiver.retry_copies()  # duplicates whose archiving failed

    def forget_gone_problems(self) -> int:
        """Forget reported problems of files no longer there, so a new file there is news."""
        gone = {Path(path) for path, _ in self._ledger.problems() if not os.path.lexists(path)}
        for path in gone:
            self._ledger.forget_problems(path)
        return len(gone)

    async def step(self) -> None:
        """One full pass; the event loop gets a turn between slices of the archiving pass."""
        for _ in self._archive_slices():
            await asyncio.sleep(0)
        self.forget_gone_problems()
        self.sweep()

    async def run(self, every: float) -> None:
        """Sweep at start-up and then every ``every`` seconds; a failing pass is logged."""
        while True:
            try:
                await self.step()
            except Exception as exc:  # supervisor: the next pass may well succeed
                log.exception("reconcile_failed", error=str(exc))
            await asyncio.sleep(every)
