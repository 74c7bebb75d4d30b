"""Turn a ready pair of files into ledger posts (one per enabled platform), PLAN logged."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from atroposd.clock import Clock
from atroposd.domain import ClipFiles, FileIdentity, Post, PostState
from atroposd.errors import InputError
from atroposd.pipeline.files import Whereabouts, trim
from atroposd.render.probe import Prober, ToolMissing
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
HASH_PIECE = 4 * 1024 * 1024
CAPTION_MAX_BYTES = 64 * 1024  # a caption longer than this is an error, not a caption


TEXT_NAMES = ("description", "caption", "text")  # one field, each platform's own word for it


class PlatformOverride(BaseModel):
    """Fields a sidecar may override for one platform.

    The post's main text is ``description``; ``caption`` (Instagram, TikTok) and ``text`` (X)
    are other names for it, and a block gives at most one of the three.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str | None = None
    description: str | None = None
    privacy: str | None = None
    tags: list[str] | None = None
    publish_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_text(cls, data: object) -> object:
        """``caption``/``text`` -> ``description``; two of them at once is an error."""
        return _fold_text(data)


def _fold_text(data: object, where: str = "") -> object:
    """``data`` with its ``caption``/``text`` as ``description``; two of them is an error."""
    if not isinstance(data, dict):
        return data
    given = [name for name in TEXT_NAMES if data.get(name) is not None]
    if len(given) > 1:
        raise ValueError(f"{where}give one of {', '.join(given)} (they name the same text)")
    text = data[given[0]] if given else None
    data = {k: v for k, v in data.items() if k not in TEXT_NAMES}
    if text is not None:
        data["description"] = text
    return data


class SidecarModel(PlatformOverride):
    """``<stem>.json``: overrides for every platform, per platform, and which platforms."""

    model_config = ConfigDict(extra="allow", frozen=True)

    platforms: list[str] | None = None
    order: float | None = None  # place in a slots queue: lower first, before unordered clips

    @model_validator(mode="before")
    @classmethod
    def _one_text(cls, data: object) -> object:
        """The shared text folded as in a block; each platform block checked by its name."""
        if isinstance(data, dict):
            for name, block in data.items():
                if name not in cls.model_fields:
                    _fold_text(block, f"{name}: ")
        return _fold_text(data)

    def for_platform(self, platform: str) -> PlatformOverride:
        """The shared fields with this platform's own block laid over them."""
        base = self.model_dump(include=set(PlatformOverride.model_fields), exclude_none=True)
        block = PlatformOverride.model_validate((self.model_extra or {}).get(platform) or {})
        return PlatformOverride.model_validate({**base, **block.model_dump(exclude_none=True)})


SIDECAR_LAYOUT = (
    "a queued clip is posted as it is, never rendered; to render it in a layout, put it in "
    "out/<account>/<project>/ with a clips.json whose entry names the layout (docs/rendering.md)"
)


def parse_sidecar(path: Path, known: set[str]) -> SidecarModel:
    """Read and validate a sidecar; unknown keys must be platform names."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
        model = SidecarModel.model_validate(raw)
        for name, block in (model.model_extra or {}).items():
            if name == "layout" and name not in known:  # issue 10: layouts apply to renders only
                raise InputError(f"{path}: layout: {SIDECAR_LAYOUT}")
            if name not in known:
                raise InputError(
                    f"{path}: unknown key {name!r} (platforms: {', '.join(sorted(known))})"
                )
            PlatformOverride.model_validate(block)
        for name in model.platforms or []:
            if name not in known:
                raise InputError(f"{path}: platforms: unknown platform {name!r}")
        return model
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: broken sidecar JSON: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        what = first["msg"].removeprefix("Value error, ")  # our own validators' words
        raise InputError(f"{path}: {loc + ': ' if loc else ''}{what}") from None


def sidecar_json(path: Path) -> str:
    """A sidecar read again before a post's first byte (a fix after a refused override): its
    validated JSON as the ledger keeps it; ``InputError`` when it no longer reads."""
    try:
        model = SidecarModel.model_validate(json.loads(path.read_text(encoding="utf-8-sig")))
        for block in (model.model_extra or {}).values():
            PlatformOverride.model_validate(block)
        return model.model_dump_json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
        raise InputError(f"{path}: {str(exc).splitlines()[0]}") from None


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
        whereabouts: Whereabouts | None = None,
        prober: Prober | None = None,
    ) -> None:
        self._ledger = ledger
        self._platforms_for = platforms_for
        self._known = known
        self._clock = clock
        self._hashes: dict[tuple[str, FileIdentity], str] = {}
        self.where = whereabouts or Whereabouts(ledger)  # the file rules (files.py)
        self.prober = prober or Prober()  # ffprobe, once per content (render/probe.py)

    async def _hash(self, path: Path) -> tuple[str, FileIdentity]:
        """SHA-256 and identity of the video."""
        identity = await asyncio.to_thread(FileIdentity.of, path)
        key = (str(path), identity)
        if key not in self._hashes:
            self._hashes[key] = (await asyncio.to_thread(sha256_file, path))[0]
            trim(self._hashes)
        return self._hashes[key], identity

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
            says = (
                f"enables {', '.join(enabled)}"
                if enabled
                else "has no platform enabled (a typo in the folder name? the accounts are "
                "named in upload_config.json)"
            )
            raise InputError(f"{where}: no platform to post to (account {files.account!r} {says})")
        when = sidecar.publish_at if sidecar is not None else None
        if when is not None and when.tzinfo is None:
            raise InputError(
                f"{files.sidecar}: publish_at needs a time zone, e.g. "
                "2026-12-01T18:00:00Z or 2026-12-01T10:00:00-08:00"
            )
        if when is not None and when <= self._clock.now():
            raise InputError(f"{files.sidecar}: publish_at {when.isoformat()} is in the past")
        return platforms

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
        if not planned:  # probed when it was planned; a restart does not probe the queue again
            with contextlib.suppress(ToolMissing):  # no ffprobe: said once, planned unchecked
                await self.prober.probe(files.video, sha)  # not a video: MediaUnreadable
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
        self.where.seen(sha, files.account, drop)
        others = self.where.supersede(sha, files.account, drop)
        return Admitted(sha, new, known, self.where.rearm(known, drop) + others, drop)
