"""Turn a ready pair of files into ledger posts (one per enabled platform), PLAN logged."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from atroposd.domain import ClipFiles, Post, PostState
from atroposd.errors import InputError
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
HASH_PIECE = 4 * 1024 * 1024


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
    """The caption text (UTF-8, BOM tolerated) or ``InputError`` saying where it breaks."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: caption is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in 4 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while piece := handle.read(HASH_PIECE):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


class Intake:
    """ClipReady -> clip + posts in the ledger; caches hashes by (path, size, mtime)."""

    def __init__(self, ledger: Ledger, platforms_for: Any, known: set[str]) -> None:
        self._ledger = ledger
        self._platforms_for = platforms_for
        self._known = known
        self._hashes: dict[tuple[str, int, int], str] = {}

    async def _hash(self, path: Path) -> tuple[str, int]:
        st = await asyncio.to_thread(path.stat)
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key in self._hashes:
            return self._hashes[key], st.st_size
        sha, size = await asyncio.to_thread(sha256_file, path)
        self._hashes[key] = sha
        return sha, size

    async def admit(self, files: ClipFiles) -> tuple[list[Post], list[Post]]:
        """Plan posts for ``files``; returns (new, already known). Raises ``InputError``."""
        caption = await asyncio.to_thread(read_caption, files.caption)
        sidecar = None
        if files.sidecar is not None:
            sidecar = await asyncio.to_thread(parse_sidecar, files.sidecar, self._known)
        platforms = list(self._platforms_for(files.account))
        if not platforms:
            raise InputError(
                f"{files.video}: account {files.account!r} has no enabled platform "
                "in upload_config.json"
            )
        if sidecar is not None and sidecar.platforms is not None:
            platforms = [p for p in platforms if p in sidecar.platforms]
        sha, size = await self._hash(files.video)
        if size == 0:
            raise InputError(f"{files.video}: video is empty (0 bytes)")
        drop = Drop(
            files.video,
            files.caption,
            files.sidecar,
            files.root,
            files.rel,
            caption,
            sidecar.model_dump_json() if sidecar is not None else None,
        )
        publish_at = sidecar.publish_at if sidecar is not None else None
        new, known = self._ledger.plan(sha, size, files.account, platforms, drop, publish_at)
        for post in new:
            log.info(
                "PLAN",
                account=post.account,
                platform=post.platform,
                clip=files.rel,
                post_id=post.id,
                sha256=sha,
                bytes=size,
                publish_at=publish_at.isoformat() if publish_at else None,
            )
            self._ledger.transition(
                post.id, [PostState.PLANNED], PostState.READY, note="no render needed"
            )
        return new, known
