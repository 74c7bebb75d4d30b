"""The conformance suite's way to post: the daemon's own ``Publisher`` on a real SQLite ledger.

Nothing here stands in for the pipeline. A post is planned in a ledger file, marked ready, and
handed to ``Publisher.work`` exactly as the daemon's workers and reconcile sweep do: upload,
poll until the platform says ready, publish (for platforms with a publish step), poll until
published. A provider whose publish step is never reached never gets a post onto the platform,
and the suite's checks of the platform's posts fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from atroposd.bus import Bus
from atroposd.domain import FileIdentity, Post, PostState
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers.base import Provider, RemoteRef, UploadRequest
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.unit.support import FakeClock

S = PostState
SETTLED = frozenset({S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.CANCELLED})


@dataclass
class Pipeline:
    """A ledger file, the real publisher over one provider, and a clock the suite moves."""

    ledger: Ledger
    publisher: Publisher
    clock: FakeClock
    home: Path
    conn: sqlite3.Connection
    deadline_s: float
    provider: Provider

    def restart(self) -> Pipeline:
        """A new publisher on the same ledger file, as after the process died."""
        self.close()
        return Pipeline.build(self.provider, self.home, self.deadline_s)

    def elsewhere(self) -> Pipeline:
        """A publisher on a new, empty ledger (another machine's state, a lost ledger)."""
        self.close()
        return Pipeline.build(self.provider, self.home / "elsewhere", self.deadline_s)

    def close(self) -> None:
        """Close the ledger file."""
        self.conn.close()

    @classmethod
    def build(
        cls,
        provider: Provider,
        home: Path,
        deadline_s: float,
        policy: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen
    ) -> Pipeline:
        """Wire the publisher as ``app.py`` does, on a fresh ledger under ``home``.

        Polls are quick, and each wait moves the clock by as much, so the publisher's own
        processing deadline (``deadline_s``) ends a post that never gets published.
        """
        clock = FakeClock(datetime.now(UTC))

        async def sleep(seconds: float) -> None:
            clock.advance(seconds)
            await asyncio.sleep(seconds)

        conn = connect(home / "state" / "ledger.sqlite3")
        ledger = Ledger(conn, clock)
        publisher = Publisher(
            ledger,
            {provider.name: provider},
            Bus(),
            clock,
            policy,
            Archiver(ledger, home / "posted", delete=False),
            lambda account, platform: {},
            lambda account, platform: True,
            polling=Polling(first=0.02, cap=0.2, deadline=deadline_s),
            sleep=sleep,
        )
        return cls(ledger, publisher, clock, home, conn, deadline_s, provider)

    def plan(
        self,
        request: UploadRequest,
        platform: str,
        ref: RemoteRef | None = None,
        sidecar: bool = True,
    ) -> Post:
        """A ready post for ``request``'s file (a link to it, since publishing archives it).

        The title and description go in a sidecar unless ``sidecar`` is false: then the caption
        file (the description) is the text, as for most users' clips.
        """
        folder = self.home / "queue"
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / request.path.name
        if not video.exists():
            try:
                os.link(request.path, video)
            except OSError:
                shutil.copy2(request.path, video)
        caption = video.with_suffix(".txt")
        caption.write_text(request.description, encoding="utf-8")
        texts = {"title": request.title, "description": request.description}
        if request.publish_at is not None:
            texts["publish_at"] = request.publish_at.isoformat()
        drop = Drop(
            video_path=video,
            caption_path=caption,
            sidecar_path=None,
            root=folder,
            clip_rel=video.name,
            caption=request.description,
            sidecar_json=json.dumps(texts) if sidecar else None,
            identity=FileIdentity.of(video),
        )
        account, sha = request.account, request.sha256
        [post], _ = self.ledger.plan(sha, request.size, account, [platform], drop)
        if ref is not None:
            self.ledger.set_fields(post.id, remote_ref=ref.to_json())
        ready = self.ledger.transition(post.id, [S.PLANNED], S.READY, note="conformance")
        assert ready is not None
        return ready

    async def drive(self, post_id: int, deadline_s: float) -> Post:
        """Work the post as the daemon would until it settles; a due retry is made due now."""
        deadline = time.monotonic() + deadline_s
        while True:
            await self.publisher.work(post_id)
            post = self.ledger.get(post_id)
            assert post is not None
            if post.state in SETTLED:
                return post
            if post.retry_at is not None and post.retry_at > self.clock.now():
                self.clock.advance((post.retry_at - self.clock.now()).total_seconds())
            assert time.monotonic() < deadline, (
                f"post still {post.state.value} after {deadline_s}s "
                f"(last error: {post.last_error}); history: {self.ledger.history(post_id)}"
            )
            await asyncio.sleep(0.01)
