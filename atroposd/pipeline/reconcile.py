"""The sweep that covers lost events, crashes and sleep/resume (start-up and every minute)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from atroposd.clock import Clock
from atroposd.domain import Post, PostState
from atroposd.pipeline.archive import Archiver, pending
from atroposd.pipeline.publisher import Publisher
from atroposd.store.ledger import Ledger

log = structlog.get_logger("atroposd")
S = PostState


class Reconciler:
    """Re-arms due posts, resumes uploads a dead process left behind, finishes archiving."""

    def __init__(
        self, ledger: Ledger, publisher: Publisher, archiver: Archiver, clock: Clock
    ) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._archiver = archiver
        self._clock = clock
        self._cleared: set[tuple[str, str]] = set()

    def sweep(self, wanted: Callable[[Post], bool] = lambda post: True) -> int:
        """One pass over ``wanted`` posts; returns how many were handed to the publisher."""
        now, busy, kicked = self._clock.now(), self._publisher.busy, 0
        for post in self._ledger.list_posts([S.PLANNED]):
            if post.id not in busy and wanted(post):  # planned before a crash, never armed
                self._ledger.transition(post.id, [S.PLANNED], S.READY, note="no render needed")
        # An uploading post no worker holds was cut short by a previous process: the
        # publisher resumes it from its saved session.
        for post in self._ledger.due(now, [S.READY, S.UPLOADING, S.PROCESSING, S.PUBLISHING]):
            if post.id not in busy and wanted(post):
                self._publisher.kick(post.id)
                kicked += 1
        return kicked

    def finish_archiving(self) -> None:
        """Clear drops whose posts were all published before a crash could archive them."""
        for post in self._ledger.list_posts([S.PUBLISHED]):
            key = (post.clip_sha256, post.account)
            if key in self._cleared:
                continue
            if pending(self._ledger.drop_of(post.id)):
                self._archiver.maybe_clear(post.clip_sha256, post.account, post.id)
            if not pending(self._ledger.drop_of(post.id)):
                self._cleared.add(key)  # checked once per process, unless archiving failed

    def recheck(self, sha256: str, account: str) -> None:
        """Look at this clip's files again at the next sweep (they came back)."""
        self._cleared.discard((sha256, account))

    async def run(self, every: float) -> None:
        """Sweep at start-up and then every ``every`` seconds; a failing pass is logged."""
        while True:
            try:
                self.finish_archiving()
                self.sweep()
            except Exception as exc:  # supervisor: the next pass may well succeed
                log.exception("reconcile_failed", error=str(exc))
            await asyncio.sleep(every)
