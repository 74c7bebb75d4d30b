"""Turn a ready pair of files into ledger posts (one per enabled platform), PLAN logged."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from atroposd.clock import Clock
from atroposd.domain import ACTIVE, Attention, ClipFiles, FileIdentity, Post, PostState
from atroposd.errors import InputError
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
HASH_PIECE = 4 * 1024 * 1024
CAPTION_MAX_BYTES = 64 * 1024  # a caption longer than this is an error, not a caption
CACHE_ENTRIES = 20_000  # hashes and copies remembered; a restart rescans anyway
REARMABLE = frozenset({Attention.FILE, Attention.SUPERSEDED})  # parked for the file alone


class PlatformOverride(BaseModel):
    """Fields a sidecar may override for one platform."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    description: str | None = None
    privacy: str | None = None
    tags: list[str] | None = None
    publish_at: datetime | None = None


class SidecarModel(PlatformOverride):
    """``<stem>.json``: overrides for every platform, per platform, and which platforms."""

    model_config = ConfigDict(extra="allow", frozen=True)

    platforms: list[str] | None = None

    def for_platform(self, platform: str) -> PlatformOverride:
        """The shared fields with this platform's own block laid over them."""
        base = self.model_dump(include=set(PlatformOverride.model_fields), exclude_none=True)
        extra = (self.model_extra or {}).get(platform) or {}
        return PlatformOverride.model_validate({**base, **extra})


def parse_sidecar(path: Path, known: set[str]) -> SidecarModel:
    """Read and validate a sidecar; unknown keys must be platform names."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
        model = SidecarModel.model_validate(raw)
        for name, block in (model.model_extra or {}).items():
            if name not in known:
                raise InputError(f"{path}: unknown key {name!r} (platforms: {sorted(known)})")
            PlatformOverride.model_validate(block)
        for name in model.platforms or []:
            if name not in known:
                raise InputError(f"{path}: platforms: unknown platform {name!r}")
        return model
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: broken sidecar JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: {where}: {first['msg']}") from None


def read_caption(path: Path) -> str:
    """The caption text (UTF-8, BOM tolerated) or ``InputError`` saying where it breaks.

    Captions are capped at ``CAPTION_MAX_BYTES`` (no platform takes more than a few KB; a
    50 MB "caption" would grow the ledger and the daemon's memory for nothing), and one of
    only whitespace counts as missing.
    """
    with path.open("rb") as handle:
        data = handle.read(CAPTION_MAX_BYTES + 1)
    if len(data) > CAPTION_MAX_BYTES:
        raise InputError(
            f"{path}: caption is larger than {CAPTION_MAX_BYTES // 1024} KiB; "
            "no platform takes that much text"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: caption is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise InputError(f"{path}: caption is empty (only whitespace); write the caption in it")
    return text


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in 4 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while piece := handle.read(HASH_PIECE):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class Admitted:
    """What planning a pair did: posts created, posts already known, posts re-armed."""

    sha256: str
    new: list[Post]
    known: list[Post]
    rearmed: list[Post]
    drop: Drop


class Intake:
    """ClipReady -> clip + posts in the ledger; caches hashes by file identity."""

    def __init__(
        self,
        ledger: Ledger,
        platforms_for: Callable[[str], list[str]],
        known: set[str],
        clock: Clock,
    ) -> None:
        self._ledger = ledger
        self._platforms_for = platforms_for
        self._known = known
        self._clock = clock
        self._hashes: dict[tuple[str, FileIdentity], str] = {}
        # Where each (clip, account) was last seen, copies included: a superseded post can
        # go on from a copy of its version that the watcher will not deliver again.
        self._copies: dict[tuple[str, str], list[Drop]] = {}

    async def _hash(self, path: Path) -> tuple[str, FileIdentity]:
        """SHA-256 and identity of the video."""
        identity = await asyncio.to_thread(FileIdentity.of, path)
        key = (str(path), identity)
        if key not in self._hashes:
            self._hashes[key] = (await asyncio.to_thread(sha256_file, path))[0]
            _trim(self._hashes)
        return self._hashes[key], identity

    def copy_of(self, sha256: str, account: str) -> Drop | None:
        """An intact copy of this clip seen in the watched folders, if any."""
        return next((c for c in self._copies.get((sha256, account), []) if c.intact()), None)

    def _platforms(
        self, files: ClipFiles, sidecar: SidecarModel | None, planned: set[str]
    ) -> list[str]:
        """The platforms to plan; checks apply only to what is not planned yet."""
        enabled = list(self._platforms_for(files.account))
        platforms = enabled
        if sidecar is not None and sidecar.platforms is not None:
            platforms = [p for p in enabled if p in sidecar.platforms]
        if not [p for p in platforms if p not in planned]:
            if planned:
                return platforms  # seen before (restart, move): nothing new to check
            where = files.sidecar if sidecar and sidecar.platforms is not None else files.video
            raise InputError(
                f"{where}: no platform to post to (account {files.account!r} "
                f"enables {enabled or 'none'} in upload_config.json)"
            )
        when = sidecar.publish_at if sidecar is not None else None
        if when is not None and when.tzinfo is None:
            raise InputError(
                f"{files.sidecar}: publish_at needs a time zone, e.g. "
                "2026-12-01T18:00:00Z or 2026-12-01T10:00:00-08:00"
            )
        if when is not None and when <= self._clock.now():
            raise InputError(f"{files.sidecar}: publish_at {when.isoformat()} is in the past")
        return platforms

    def _rearm(self, known: list[Post], drop: Drop) -> list[Post]:
        """Point unfinished posts whose video moved, or was touched, at this drop.

        The same content has reappeared (renamed, moved, copied back, touched): posts that
        waited on the old path continue from here, and posts parked because their file
        vanished, changed or was superseded are re-armed. A copy beside an intact original
        changes nothing; posts waiting for a human for other reasons stay as they are.
        """
        rearmed = []
        for post in known:
            waits_for_file = post.state is PostState.NEEDS_ATTENTION and post.attention in REARMABLE
            if post.state not in ACTIVE and not waits_for_file:
                continue
            old = self._ledger.drop_of(post.id)
            if old.video_path == drop.video_path and old.identity in (drop.identity, None):
                if old.identity is None:  # planned before identities were recorded
                    self._ledger.set_fields(post.id, **drop.fields())
                continue
            if old.video_path != drop.video_path and old.intact():
                continue
            again = self._repoint(post, old, drop)
            rearmed += [again] if again is not None else []
        return rearmed

    def _repoint(self, post: Post, old: Drop, drop: Drop) -> Post | None:
        """Move a post's files to ``drop``; re-arm it when it was parked for its file."""
        self._ledger.set_fields(post.id, **drop.fields())
        about = {
            "account": post.account,
            "platform": post.platform,
            "clip": drop.clip_rel,
            "post_id": post.id,
        }
        if old.video_path != drop.video_path:
            log.info("clip_moved", **about, was=old.clip_rel)
        if post.state is not PostState.NEEDS_ATTENTION:
            return post
        log.info("post_rearmed", **about, reason=post.attention)
        return self._ledger.transition(
            post.id,
            [post.state],
            PostState.READY,
            note="the video is back",
            attempts=0,
            retry_at=None,
            attention=None,
        )

    async def admit(self, files: ClipFiles) -> Admitted:
        """Plan posts for ``files`` (raises ``InputError`` for unusable input)."""
        caption = await asyncio.to_thread(read_caption, files.caption)
        sidecar = None
        if files.sidecar is not None:
            sidecar = await asyncio.to_thread(parse_sidecar, files.sidecar, self._known)
        sha, identity = await self._hash(files.video)
        if identity.size == 0:
            raise InputError(f"{files.video}: video is empty (0 bytes)")
        drop = Drop(
            files.video,
            files.caption,
            files.sidecar,
            files.root,
            files.rel,
            caption,
            sidecar.model_dump_json() if sidecar is not None else None,
            identity,
        )
        planned = {p.platform for p in self._ledger.posts_of(sha, files.account)}
        platforms = self._platforms(files, sidecar, planned)
        publish_at = sidecar.publish_at if sidecar is not None else None
        new, known = self._ledger.plan(
            sha, identity.size, files.account, platforms, drop, publish_at
        )
        for post in new:
            log.info(
                "PLAN",
                account=post.account,
                platform=post.platform,
                clip=files.rel,
                post_id=post.id,
                sha256=sha,
                bytes=identity.size,
                publish_at=publish_at.isoformat() if publish_at else None,
            )
            self._ledger.transition(
                post.id, [PostState.PLANNED], PostState.READY, note="no render needed"
            )
        copies = self._copies.setdefault((sha, files.account), [])
        _trim(self._copies)
        copies[:] = [*[c for c in copies if c.video_path != drop.video_path][-7:], drop]
        others = self._supersede(sha, files.account, drop)
        return Admitted(sha, new, known, self._rearm(known, drop) + others, drop)

    def _supersede(self, sha: str, account: str, drop: Drop) -> list[Post]:
        """Park waiting posts of an older version of the file at the same path.

        Not final: when a copy of the older version was seen elsewhere (or turns up later),
        the post is re-armed from there. Returns the posts re-armed that way.
        """
        rearmed: list[Post] = []
        for post in self._ledger.posts_at(drop.video_path):
            if post.clip_sha256 == sha or post.account != account:
                continue
            why = "superseded: a new version of the file was dropped at the same path"
            done = self._ledger.transition(
                post.id,
                [PostState.PLANNED, PostState.READY],
                PostState.NEEDS_ATTENTION,
                note=why,
                last_error=why,
                attention=Attention.SUPERSEDED,
            )
            if done is None:
                continue
            log.warning(
                "post_superseded",
                account=account,
                platform=post.platform,
                clip=drop.clip_rel,
                post_id=post.id,
                by_sha256=sha,
            )
            copy = next(
                (
                    c
                    for c in self._copies.get((post.clip_sha256, account), [])
                    if c.video_path != drop.video_path and c.intact()
                ),
                None,
            )
            again = self._repoint(done, self._ledger.drop_of(post.id), copy) if copy else None
            rearmed += [again] if again is not None else []
        return rearmed


def _trim(cache: dict[Any, Any], keep: int = CACHE_ENTRIES) -> None:
    """Forget the oldest entries of an in-memory cache, so months of clips stay bounded."""
    while len(cache) > keep:
        del cache[next(iter(cache))]
