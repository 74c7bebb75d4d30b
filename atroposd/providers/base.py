"""The provider contract every platform implements.

A provider is a leaf: it knows its platform's HTTP protocol and the error vocabulary of
``atroposd.errors``; it knows nothing of the ledger, the bus or the scheduler. The pipeline
drives it through four calls:

``validate(request)``
    Local checks only (size, caption limits). Raises ``PermanentError``.
``upload(request, resume, save_ref, progress)``
    Sends the media and, where the platform's upload *is* the publish, publishes it. Before
    any step that cannot be undone the provider calls ``await save_ref(ref)`` and the
    pipeline persists the ``RemoteRef`` durably; when ``resume`` is given the provider first
    asks the platform where that handle stands and continues from there instead of starting
    over. Returns an ``UploadResult``; ``processing=True`` means "poll ``status`` next".
``status(ref)``
    Asks the platform about a saved handle: ``RemoteStatus`` (not found, uploading at an
    offset, processing, published with id/url, failed with reason). This is what makes a
    crash with unknown outcome safe: the pipeline asks before it retries anything.
``publish(request, ref, save_ref)``
    For platforms whose upload is not the publish (``capabilities.publish_step``): called by
    the pipeline once ``status`` says ``READY`` (the media is processed and waits to be
    published). The ledger records the step as ``publishing`` with the handle saved *before*
    the call. After a crash or an ambiguous answer the pipeline calls ``status`` again before
    anything else, so ``status`` must never answer ``READY`` for media whose publish the
    platform accepted: it looks at the container's own state and, where that cannot tell, at
    the account's recent posts. Returns an ``UploadResult`` (``processing=True``: poll
    ``status`` until ``PUBLISHED``).

How the six protocols map onto it (``../shared/providers.md``):

=========  ===========================================  ==========================================
platform   upload(...)                                  save_ref before / status / publish
=========  ===========================================  ==========================================
youtube    POST resumable session, PUT 256 KiB-multiple  ref = session URI (before 1st byte);
           chunks, 308 + Range; upload is the publish    status = PUT ``bytes */N``; no publish
instagram  POST /{ig}/media (container, upload_type=     ref = container id; status = container
           resumable) then rupload POST with offset      ``status_code``; publish = media_publish
           headers                                      (publish_step, commit hazard)
facebook   video_reels ``upload_phase=start`` then       ref = video_id + upload_url; status =
           rupload POST                                 GET video ``status``; publish =
                                                        ``upload_phase=finish`` + PUBLISHED
tiktok     POST init -> publish_id + upload_url; PUT     ref = publish_id + upload_url (before
           chunks with Content-Range                     1st chunk); status = status/fetch
snapchat   AES-256-CBC encrypt (key/iv in the ref),      ref = media_id + add/finalize paths +
           create media, multipart ADD parts, FINALIZE  key; publish = spotlight/story post
x          OAuth 1.0a signed initialize -> append        ref = media_id (+ segments done);
           (segment_index) -> finalize -> STATUS         status = STATUS; publish = POST tweet
=========  ===========================================  ==========================================

Differences are declared as data in ``Capabilities``; nothing outside ``providers/`` branches
on a platform's name.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import httpx

from atroposd.captions import Counting, TextLimit
from atroposd.clock import Clock
from atroposd.domain import FileIdentity
from atroposd.providers.chunks import ChunkPlan

__all__ = ["Counting", "TextLimit"]  # re-exported for provider modules


@dataclass(frozen=True)
class MediaLimits:
    """What video a platform takes, as data (``pipeline/media.py`` enforces it; docs/media.md).

    ``None``/empty means "no limit declared". Codec, container and pixel names are ffprobe's
    (``h264``, ``hevc``; ``mp4``, ``mov``). Width/height are the picture as displayed (rotation
    applied); ``max_long_side``/``max_short_side`` bound it whatever its orientation. The
    ``min_*`` values are advisory: a clip below them is uploaded with a warning (the platform
    decides), since upscaling or padding would not make it a better post.
    """

    containers: frozenset[str] = frozenset()
    video_codecs: frozenset[str] = frozenset()
    max_bit_depth: int | None = None
    chroma_420_only: bool = False
    audio_codecs: frozenset[str] = frozenset()
    max_audio_channels: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_long_side: int | None = None
    max_short_side: int | None = None
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    max_fps: float | None = None
    faststart: bool = False  # ``moov`` before ``mdat``
    min_duration_s: float | None = None
    min_fps: float | None = None
    min_short_side: int | None = None
    max_audio_rate: int | None = None  # Hz (Instagram: 48 kHz)
    max_video_kbps: int | None = None  # the video stream's bit rate (Instagram: 25 Mb/s)
    aac_lc_only: bool = False  # HE-AAC refused (X)


@dataclass(frozen=True)
class Capabilities:
    """What a platform allows, declared as data."""

    title: TextLimit | None
    description: TextLimit
    max_bytes: int
    max_duration_s: float | None = None
    resumable: bool = True
    publish_step: bool = False  # upload is not the publish: the pipeline calls ``publish``
    # The platform itself publishes at a request's ``publish_at`` (YouTube's publishAt, Facebook's
    # SCHEDULED). Otherwise a platform with a publish step gets its publish call at that time:
    # the pipeline uploads early and holds the call (ADR 0013).
    schedules_natively: bool = False
    concurrency: int = 2
    chunk_plan: ChunkPlan = field(default_factory=ChunkPlan)  # how uploads are cut: chunks.py
    quota_cost: int = 1
    privacy_values: tuple[str, ...] = ()
    media: MediaLimits = field(default_factory=MediaLimits)  # size/duration: the two above
    label: str = ""  # the platform's name in messages ("TikTok"); "" -> the registry key


@dataclass(frozen=True)
class RemoteRef:
    """A platform handle saved before an irreversible step (session URI, container id...)."""

    kind: str
    data: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """Serialise for the ledger."""
        return json.dumps({"kind": self.kind, "data": dict(self.data)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> RemoteRef:
        """Parse what ``to_json`` wrote."""
        raw = json.loads(text)
        return cls(kind=str(raw["kind"]), data={str(k): str(v) for k, v in raw["data"].items()})


class RemotePhase(StrEnum):
    """What the platform says about a saved handle."""

    NOT_FOUND = "not_found"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    READY = "ready"  # processed and waiting for ``publish`` (platforms with a publish step)
    PUBLISHED = "published"
    FAILED = "failed"
    # The platform let the handle lapse before anything was published from it (an X media or a
    # Snapchat media past its life, unpublished): the pipeline uploads again. A provider answers
    # it only once the platform's own state proves no post came from the handle.
    EXPIRED = "expired"


@dataclass(frozen=True)
class RemoteStatus:
    """The platform's answer to ``status(ref)``."""

    phase: RemotePhase
    offset: int = 0
    remote_id: str | None = None
    url: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class UploadRequest:
    """Everything a provider needs to post one clip for one account."""

    account: str
    path: Path
    size: int
    sha256: str
    title: str
    description: str
    tags: tuple[str, ...] = ()
    privacy: str | None = None
    publish_at: datetime | None = None
    mime_type: str = "video/mp4"
    options: Mapping[str, object] = field(default_factory=dict)
    identity: FileIdentity | None = None  # what the file must still be while it is read


@dataclass(frozen=True)
class UploadResult:
    """What ``upload``/``publish`` achieved."""

    remote_id: str
    url: str | None
    bytes_sent: int
    processing: bool = False
    ref: RemoteRef | None = None
    resumed_from: int = 0  # bytes the platform already held when this attempt began


SaveRef = Callable[[RemoteRef], Awaitable[None]]
Progress = Callable[[int, int], None]  # (bytes done, total)


@dataclass(frozen=True)
class Credentials:
    """One account's tokens for one platform; never logged."""

    access_token: str
    refresh_token: str | None = None
    expires_at: datetime | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return "Credentials(<redacted>)"


class CredentialStore(Protocol):
    """Where providers read and write an account's tokens (the vault implements it)."""

    def load(self, account: str, platform: str) -> Credentials: ...

    def save(self, account: str, platform: str, creds: Credentials) -> None: ...


class Provider(Protocol):
    """The contract all six platforms implement."""

    name: str
    capabilities: Capabilities

    def validate(self, request: UploadRequest) -> None: ...

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult: ...

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus: ...

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult: ...


@dataclass(frozen=True)
class ProviderContext:
    """What a provider's ``build`` gets from the composition root (no settings object)."""

    http: httpx.AsyncClient
    credentials: CredentialStore
    clock: Clock
    sandbox: bool
    sandbox_url: str
    chunk_size: int
    secrets: Mapping[str, str]
    overrides: Mapping[str, str]  # the platform's declared settings by name: YOUTUBE_TOKEN_URL...
    # (platform, account) -> the account's own id there (upload_config.json, .env fallback)
    account_ids: Callable[[str, str], str | None] = lambda platform, account: None
    # platform -> each account enabling it, with its block's choices (upload_config.json)
    accounts: Callable[[str], Mapping[str, Mapping[str, object]]] = lambda platform: {}

    def secret(self, name: str) -> str | None:
        """A secret from ``.env`` by its variable name."""
        return self.secrets.get(name) or None

    def override(self, name: str) -> str | None:
        """A declared setting (an endpoint override) by its variable name."""
        return self.overrides.get(name) or None

    def account_id(self, platform: str, account: str) -> str | None:
        """The account's own id on ``platform`` (Instagram user, Facebook Page, Snapchat
        profile): its ``ids`` entry in upload_config.json, else for the default account the
        platform's ``.env`` fallback; None when neither is set."""
        return self.account_ids(platform, account)
