"""Move (or delete) a clip's files once every platform has published it; never before."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import structlog

from atroposd.domain import PostState
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
DONE = frozenset({PostState.PUBLISHED, PostState.CANCELLED})


def _free_name(target: Path) -> Path:
    """``target`` or ``name.1.ext``, ``name.2.ext``... when it already exists."""
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
    return candidate


class Archiver:
    """Clears a drop out of the watched folder when all its posts are done."""

    def __init__(self, ledger: Ledger, archive_dir: Path, delete: bool) -> None:
        self._ledger = ledger
        self._dir = archive_dir
        self._delete = delete
        self._skipped: set[Path] = set()

    def ready(self, sha256: str, account: str) -> bool:
        """Every post of the clip for ``account`` is published or cancelled, one published."""
        states = {p.state for p in self._ledger.posts_of(sha256, account)}
        return bool(states) and states <= DONE and PostState.PUBLISHED in states

    def clear(self, drop: Drop, sha256: str | None = None) -> list[Path]:
        """Archive (or delete) the drop's files; return where they went.

        Idempotent and best-effort: a file that cannot be moved (archive disk full, read-only,
        unmounted) stays where it is, is logged, and is tried again by the reconcile sweep.
        """
        if self._taken(drop) or (sha256 is not None and self._shared(sha256, drop)):
            return []
        moved: list[Path] = []
        sources = [drop.video_path, drop.caption_path, drop.sidecar_path]
        for source in (s for s in sources if s is not None and s.exists()):
            try:
                target = self._clear_one(source, drop.root)
            except OSError as exc:
                log.error(
                    "archive_failed",
                    clip=drop.clip_rel,
                    path=str(source),
                    error=str(exc),
                    action="left in place; tried again at a later sweep or restart",
                )
                continue
            moved.append(target)
        return moved

    def _taken(self, drop: Drop) -> bool:
        """True when the video at the drop's path is now another version (re-exported)."""
        taken = drop.identity is not None and drop.video_path.exists() and not drop.intact()
        if taken and drop.video_path not in self._skipped:
            self._skipped.add(drop.video_path)  # said once; the newer version archives itself
            log.info(
                "archive_skipped",
                clip=drop.clip_rel,
                path=str(drop.video_path),
                reason="a newer version of the file is at this path",
            )
        return taken

    def _shared(self, sha256: str, drop: Drop) -> bool:
        """True when an unfinished post (any account) reads the same file, e.g. via a link."""
        real = os.path.realpath(drop.video_path)
        for post in self._ledger.posts_of(sha256):
            if post.state in DONE:
                continue
            if os.path.realpath(self._ledger.drop_of(post.id).video_path) == real:
                return True
        return False

    def _clear_one(self, source: Path, root: Path) -> Path:
        """Delete or move one file; returns the path deleted or the archive path."""
        if self._delete:
            source.unlink()
            return source
        target = _free_name(self._dir / source.relative_to(root))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
        except OSError:
            shutil.move(source, target)  # another filesystem: copy then remove
        return target

    def maybe_clear(self, sha256: str, account: str, post_id: int) -> None:
        """Clear the drop of ``post_id`` if the clip is done for its account."""
        if not self.ready(sha256, account):
            return
        drop = self._ledger.drop_of(post_id)
        done = self.clear(drop, sha256)
        if done:
            log.info(
                "clip_deleted" if self._delete else "clip_archived",
                account=account,
                clip=drop.clip_rel,
                post_id=post_id,
                **{"files" if self._delete else "to": [str(p) for p in done]},
            )


def pending(drop: Drop) -> bool:
    """True while any of the drop's files is still in the watched folder."""
    return any(
        p is not None and p.exists()
        for p in (drop.video_path, drop.caption_path, drop.sidecar_path)
    )
