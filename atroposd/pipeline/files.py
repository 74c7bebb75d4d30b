"""The file rules: where a clip's bytes are, and what a move, a rewrite or a copy means.

One home for what used to be spread over intake, the publisher, the app, the archiver and the
reconcile sweep. A post records its video's identity (size, mtime, inode) when planned:
- the same identity at the same path: untouched;
- the same bytes at another path (renamed, moved, copied back, touched): the post follows them
  (``clip_moved``) and, if it was parked only for its file, is re-armed;
- another identity at the same path: a new version (re-exported); the waiting plan of the old
  one is parked (``superseded``) and goes on from a copy of the old bytes if one is seen;
- files gone from the watched folder: archived, deleted, or moved away by the user.
``Whereabouts`` remembers, per (clip, account), the last few places its bytes were seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from atroposd.domain import ACTIVE, Attention, FileIdentity, Post, PostState
from atroposd.errors import SourceChanged
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
S = PostState
CACHE_ENTRIES = 20_000  # hashes and copies remembered; a restart rescans anyway
COPIES_PER_CLIP = 8
REARMABLE = frozenset({Attention.FILE, Attention.SUPERSEDED})  # parked for the file alone


def unchanged_size(drop: Drop) -> int:
    """The video's size, after checking it is still the file that was planned (blocking)."""
    identity = FileIdentity.of(drop.video_path)
    if drop.identity is not None and identity != drop.identity:
        raise SourceChanged(
            f"{drop.video_path}: the video was replaced or rewritten after it was planned; "
            "the new version is planned on its own"
        )
    return identity.size


def replaced(drop: Drop) -> bool:
    """True when the video at the drop's path is now another version (re-exported)."""
    return drop.identity is not None and drop.video_path.exists() and not drop.intact()


def pending(drop: Drop) -> bool:
    """True while any of the drop's files is still in the watched folder."""
    return any(
        p is not None and p.exists()
        for p in (drop.video_path, drop.caption_path, drop.sidecar_path)
    )


def still_this_copy(drop: Drop) -> bool:
    """True while a drop's files are in the watched folder and its video is unchanged."""
    return pending(drop) and not replaced(drop)


def trim(cache: dict[Any, Any], keep: int = CACHE_ENTRIES) -> None:
    """Forget the oldest entries of an in-memory cache, so months of clips stay bounded."""
    while len(cache) > keep:
        del cache[next(iter(cache))]


def _about(post: Post, drop: Drop) -> dict[str, object]:
    return {
        "account": post.account,
        "platform": post.platform,
        "clip": drop.clip_rel,
        "post_id": post.id,
    }


class Whereabouts:
    """Follows a clip's bytes between paths and points its posts at where they are now."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        # Where each (clip, account) was last seen, copies included: a superseded post can
        # go on from a copy of its version that the watcher will not deliver again.
        self._copies: dict[tuple[str, str], list[Drop]] = {}

    def seen(self, sha256: str, account: str, drop: Drop) -> None:
        """Remember that these bytes are at ``drop`` (the newest place last)."""
        copies = self._copies.setdefault((sha256, account), [])
        trim(self._copies)
        keep = [c for c in copies if c.video_path != drop.video_path][1 - COPIES_PER_CLIP :]
        copies[:] = [*keep, drop]

    def copy_of(self, sha256: str, account: str, besides: Path | None = None) -> Drop | None:
        """An intact copy of this clip seen in the watched folders (not at ``besides``)."""
        return next(
            (
                c
                for c in self._copies.get((sha256, account), [])
                if c.video_path != besides and c.intact()
            ),
            None,
        )

    def rearm(self, known: list[Post], drop: Drop) -> list[Post]:
        """Point unfinished posts whose video moved, or was touched, at this drop.

        The same content has reappeared (renamed, moved, copied back, touched): posts that
        waited on the old path continue from here, and posts parked because their file
        vanished, changed or was superseded are re-armed. A copy beside an intact original
        changes nothing; posts waiting for a human for other reasons stay as they are.
        """
        rearmed = []
        for post in known:
            waits_for_file = post.state is S.NEEDS_ATTENTION and post.attention in REARMABLE
            if post.state not in ACTIVE and not waits_for_file:
                continue
            old = self._ledger.drop_of(post.id)
            if old.video_path == drop.video_path and old.identity in (drop.identity, None):
                if old.identity is None:  # planned before identities were recorded
                    self._ledger.set_fields(post.id, **drop.fields())
                continue
            if old.video_path != drop.video_path and old.intact():
                continue
            again = self.repoint(post, old, drop)
            rearmed += [again] if again is not None else []
        return rearmed

    def repoint(self, post: Post, old: Drop, drop: Drop) -> Post | None:
        """Move a post's files to ``drop``; re-arm it when it was parked for its file."""
        self._ledger.set_fields(post.id, **drop.fields())
        about = _about(post, drop)
        if old.video_path != drop.video_path:
            log.info("clip_moved", **about, was=old.clip_rel)
        if post.state is not S.NEEDS_ATTENTION:
            return post
        log.info("post_rearmed", **about, reason=post.attention)
        return self._ledger.transition(
            post.id,
            [post.state],
            S.READY,
            note="the video is back",
            attempts=0,
            retry_at=None,
            attention=None,
        )

    def supersede(self, sha256: str, account: str, drop: Drop) -> list[Post]:
        """Park waiting posts of an older version of the file at the same path.

        Not final: when a copy of the older version was seen elsewhere (or turns up later),
        the post is re-armed from there. Returns the posts re-armed that way.
        """
        rearmed: list[Post] = []
        for post in self._ledger.posts_at(drop.video_path):
            if post.clip_sha256 == sha256 or post.account != account:
                continue
            why = "superseded: a new version of the file was dropped at the same path"
            done = self._ledger.transition(
                post.id,
                [S.PLANNED, S.READY],
                S.NEEDS_ATTENTION,
                note=why,
                last_error=why,
                attention=Attention.SUPERSEDED,
            )
            if done is None:
                continue
            log.warning("post_superseded", **_about(post, drop), by_sha256=sha256)
            copy = self.copy_of(post.clip_sha256, account, besides=drop.video_path)
            again = self.repoint(done, self._ledger.drop_of(post.id), copy) if copy else None
            rearmed += [again] if again is not None else []
        return rearmed

    def moved_during_upload(self, post: Post, was: Drop) -> bool:
        """The video changed or vanished mid-upload: True when the same bytes are somewhere
        the post can go on from (its new place, or a copy seen earlier), pointing it there."""
        now = self._ledger.drop_of(post.id)
        if now != was and now.intact():
            return True  # the watcher already followed the move
        copy = self.copy_of(post.clip_sha256, post.account)
        if copy is None:
            return False
        self._ledger.set_fields(post.id, **copy.fields())  # a copy of the same bytes
        log.info("clip_moved", **_about(post, copy), was=was.clip_rel)
        return True
