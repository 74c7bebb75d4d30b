"""Move (or delete) a clip's files once every platform has published it; never before.

The files are moved off the event loop, one clip at a time, and never leave a partial file
under a final name (``move.py``). A file that cannot be moved (archive disk full, read-only,
unmounted) stays where it is with its pair, is logged, and is tried again by the reconcile
sweep; the retry completes the same target name.

Copies of a clip dropped under other names (duplicates) are never posted: they are archived
with the clip once it is published for their account, and retried like the clip itself.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from atroposd.domain import FINISH_ON_STOP, Post, PostState
from atroposd.pipeline.files import pending, replaced, still_this_copy
from atroposd.pipeline.move import Cleared, clear_files
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
DONE = frozenset({PostState.PUBLISHED, PostState.CANCELLED})
COPIES_KEPT = 10_000  # duplicates waiting for their clip; a restart rescans them anyway


@dataclass(frozen=True)
class _Copy:
    """A duplicate waiting for its clip to be published for ``account``."""

    drop: Drop
    sha256: str
    account: str


class Archiver:
    """Clears a drop out of the watched folder when all its posts are done."""

    def __init__(self, ledger: Ledger, archive_dir: Path, delete: bool) -> None:
        self._ledger = ledger
        self._dir = archive_dir
        self._delete = delete
        self._skipped: set[Path] = set()
        self._failing: dict[Path, str | None] = {}  # video -> the archive error last logged
        self._copies: dict[Path, _Copy] = {}
        self._jobs: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._again: dict[tuple[str, str], int | None] = {}
        self._one_at_a_time = asyncio.Lock()

    def ready(self, sha256: str, account: str) -> bool:
        """Every post of the clip for ``account`` is published or cancelled, one published."""
        states = {p.state for p in self._ledger.posts_of(sha256, account)}
        return bool(states) and states <= DONE and PostState.PUBLISHED in states

    async def clear(self, drop: Drop, sha256: str | None = None) -> list[Path]:
        """Archive (or delete) the drop's files in a worker thread; return where they went.

        Idempotent and best-effort: on the first file that cannot be moved the rest of the
        pair stays with it, ``archive_failed`` is logged, and a later call tries again.
        """
        if sha256 is not None and self._shared(sha256, drop):
            return []
        async with self._one_at_a_time:
            if await asyncio.to_thread(replaced, drop):
                self._skip(drop)
                return []
            done = await asyncio.to_thread(clear_files, drop, self._dir, self._delete)
        self._report(drop, done)
        return done.moved

    def _report(self, drop: Drop, done: Cleared) -> None:
        if done.failed is None:
            self._failing.pop(drop.video_path, None)
            return
        if self._failing.get(drop.video_path) == done.error:
            return  # said already; the sweep keeps trying quietly until it works or changes
        self._failing[drop.video_path] = done.error
        while len(self._failing) > COPIES_KEPT:
            del self._failing[next(iter(self._failing))]
        log.error(
            "archive_failed",
            clip=drop.clip_rel,
            path=str(done.failed),
            error=done.error,
            action="left in place with its pair; tried again quietly at every sweep",
        )

    def _skip(self, drop: Drop) -> None:
        if drop.video_path not in self._skipped:
            self._skipped.add(drop.video_path)  # said once; the newer version archives itself
            log.info(
                "archive_skipped",
                clip=drop.clip_rel,
                path=str(drop.video_path),
                reason="a newer version of the file is at this path",
            )

    def _shared(self, sha256: str, drop: Drop) -> bool:
        """True when an unfinished post (any account) reads the same file, e.g. via a link."""
        real = os.path.realpath(drop.video_path)
        for post in self._ledger.posts_of(sha256):
            if post.state in DONE:
                continue
            if os.path.realpath(self._ledger.drop_of(post.id).video_path) == real:
                return True
        return False

    def maybe_clear(self, sha256: str, account: str, post_id: int) -> None:
        """Clear the drop of ``post_id`` (and its duplicates) if the clip is done for its
        account. Returns at once: the files move in the background (``drain`` waits)."""
        if self.ready(sha256, account):
            self._start(sha256, account, post_id)

    def seen_again(self, drop: Drop, known: list[Post]) -> None:
        """The content at ``drop`` is already planned for its account (``known`` posts).

        Its own files seen again before archiving (restored, touched): the posts take their
        new identity and, once done, the files are archived. A copy under another name is
        never posted: it is archived with the clip once that is published.
        """
        sha, account = known[0].clip_sha256, known[0].account
        first = self._ledger.drop_of(known[0].id)
        if first.video_path != drop.video_path:
            self.duplicate(drop, sha, account, first.clip_rel, known[0].url)
            return
        if self.ready(sha, account):
            for post in known:  # the same bytes, maybe restored or touched: a new identity
                self._ledger.set_fields(post.id, **drop.fields())
            self._ledger.recheck_files(sha, account)
            self.maybe_clear(sha, account, known[0].id)

    def duplicate(
        self, copy: Drop, sha256: str, account: str, same_as: str, url: str | None
    ) -> None:
        """``copy`` holds the same video as a clip planned for ``account``: never post it;
        archive it with the clip once that is published (now, when it already is)."""
        if copy.video_path not in self._copies:
            ready = self.ready(sha256, account)
            log.warning(
                "duplicate_clip",
                account=account,
                clip=copy.clip_rel,
                same_as=same_as,
                url=url,
                action="already posted; not posted again; archived"
                if ready
                else "being posted under the other name; not posted again; archived once it is",
            )
        self._copies[copy.video_path] = _Copy(copy, sha256, account)
        while len(self._copies) > COPIES_KEPT:
            del self._copies[next(iter(self._copies))]
        if self.ready(sha256, account):
            self._start(sha256, account, None)

    def retry_copies(self) -> None:
        """Try again the duplicates whose clip is done (the reconcile sweep calls this)."""
        for key in {(c.sha256, c.account) for c in self._copies.values()}:
            if self.ready(*key):
                self._start(*key, None)

    def _start(self, sha256: str, account: str, post_id: int | None) -> None:
        key = (sha256, account)
        if key in self._jobs:  # at it already: go again once it is done, for this post too
            self._again[key] = post_id if post_id is not None else self._again.get(key)
            return
        task = asyncio.create_task(
            self._job(sha256, account, post_id), name=f"{FINISH_ON_STOP}archive-{sha256}"
        )
        self._jobs[key] = task
        task.add_done_callback(lambda _: self._done(key))

    def _done(self, key: tuple[str, str]) -> None:
        del self._jobs[key]
        if key in self._again:
            self._start(*key, self._again.pop(key))

    async def drain(self) -> None:
        """Wait until no clip is being archived (``upload --once`` before it exits)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def _job(self, sha256: str, account: str, post_id: int | None) -> None:
        try:
            if post_id is not None:
                drop = self._ledger.drop_of(post_id)
                self._said(drop, account, await self.clear(drop, sha256), post_id=post_id)
            await self._clear_copies(sha256, account)
        except Exception as exc:  # supervisor: a bug here must not go unseen nor stop others
            log.exception("archive_crashed", clip_sha256=sha256, error=str(exc))

    async def _clear_copies(self, sha256: str, account: str) -> None:
        for path, copy in list(self._copies.items()):
            if (copy.sha256, copy.account) != (sha256, account):
                continue
            if not await asyncio.to_thread(still_this_copy, copy.drop):
                self._copies.pop(path, None)  # archived, moved, deleted or re-exported since
                continue
            moved = await self.clear(copy.drop, sha256)
            self._said(copy.drop, account, moved, duplicate=True)
            if moved and not await asyncio.to_thread(pending, copy.drop):
                self._copies.pop(path, None)

    def _said(self, drop: Drop, account: str, done: list[Path], **about: object) -> None:
        if done:
            log.info(
                "clip_deleted" if self._delete else "clip_archived",
                account=account,
                clip=drop.clip_rel,
                **about,
                **{"files" if self._delete else "to": [str(p) for p in done]},
            )
