"""The sweep that covers lost events, crashes and sleep/resume (start-up and every minute)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from atroposd.clock import Clock
from atroposd.domain import Post, PostState
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.publisher import Publisher, due_now
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

    def sweep(self, wanted: Callable[[Post], bool] = lambda post: True) -> int:
        """One pass over ``wanted`` posts; returns how many were handed to the publisher."""
        now, busy, kicked = self._clock.now(), self._publisher.busy, 0
        for post in self._ledger.list_posts([S.UPLOADING]):
            if post.id not in busy and wanted(post):  # its worker died with the previous process
                self._ledger.transition(
                    post.id,
                    [S.UPLOADING],
                    S.READY,
                    note="upload interrupted; resume from saved session",
                )
                log.info(
                    "upload_resumed",
                    account=post.account,
                    platform=post.platform,
                    post_id=post.id,
                    bytes_sent=post.bytes_sent,
                )
        for post in self._ledger.list_posts([S.READY, S.PROCESSING]):
            if post.id not in busy and due_now(post, now) and wanted(post):
                self._publisher.kick(post.id)
                kicked += 1
        return kicked

    def finish_archiving(self) -> None:
        """Clear drops whose posts were all published before a crash could archive them."""
        seen: set[tuple[str, str]] = set()
        for post in self._ledger.list_posts([S.PUBLISHED]):
            key = (post.clip_sha256, post.account)
            if key in seen:
                continue
            seen.add(key)
            if self._ledger.drop_of(post.id).video_path.exists():
                self._archiver.maybe_clear(post.clip_sha256, post.account, post.id)

    async def run(self, every: float) -> None:
        """Sweep at start-up and then every ``every`` seconds."""
        self.finish_archiving()
        while True:
            self.sweep()
            await asyncio.sleep(every)
