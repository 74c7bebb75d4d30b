"""Pure domain types: clips, posts and the post state machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v"})
CAPTION_SUFFIX = ".txt"
SIDECAR_SUFFIX = ".json"
# Task-name prefix of work a shutdown lets finish (bounded): a token refresh whose answer may
# carry a rotated refresh token, an archive move.
FINISH_ON_STOP = "finish-on-stop:"


class Attention(StrEnum):
    """Why a post waits for a human in ``needs_attention``."""

    LOGIN = "login"  # the account must log in again
    OUTCOME_UNKNOWN = "outcome_unknown"  # the platform may or may not have published
    FILE = "file"  # the video vanished or changed after it was planned
    SUPERSEDED = "superseded"  # a newer version was dropped at the same path
    STATUS = "status"  # uploaded, but the platform refuses to say how it stands
    NOT_LISTED = "not_listed"  # uploaded, but the platform does not list it
    STUCK = "stuck"  # still processing on the platform after the processing deadline
    BUG = "bug"  # an unexpected error in atroposd itself (the traceback is in the log)


class PostState(StrEnum):
    """Where one (clip, account, platform) post stands."""

    PLANNED = "planned"
    RENDERING = "rendering"
    READY = "ready"
    UPLOADING = "uploading"
    PROCESSING = "processing"
    PUBLISHING = "publishing"  # publish sent or about to be: ask the platform before resending
    SCHEDULED = "scheduled"  # on the platform, which publishes it at publish_at itself (ADR 0015)
    PUBLISHED = "published"
    FAILED = "failed"
    NEEDS_ATTENTION = "needs_attention"
    CANCELLED = "cancelled"


S = PostState
ACTIVE = frozenset(
    {S.PLANNED, S.RENDERING, S.READY, S.UPLOADING, S.PROCESSING, S.PUBLISHING, S.SCHEDULED}
)

# Every allowed move. A retry re-enters ``ready`` (the upload resumes from the saved ref).
TRANSITIONS: dict[PostState, frozenset[PostState]] = {
    S.PLANNED: frozenset({S.RENDERING, S.READY, S.FAILED, S.CANCELLED, S.NEEDS_ATTENTION}),
    S.RENDERING: frozenset({S.READY, S.PLANNED, S.FAILED, S.CANCELLED, S.NEEDS_ATTENTION}),
    S.READY: frozenset({S.UPLOADING, S.FAILED, S.CANCELLED, S.NEEDS_ATTENTION}),
    S.UPLOADING: frozenset(
        {S.READY, S.PROCESSING, S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.CANCELLED, S.SCHEDULED}
    ),
    # ``-> ready``: the platform says the handle expired unpublished; upload again (ADR 0012).
    S.PROCESSING: frozenset(
        {S.PUBLISHING, S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.PROCESSING, S.READY, S.SCHEDULED}
    ),
    # A publishing post never goes back to an earlier step: whatever happens next, the platform
    # is asked first (status, recent posts) before a publish call is sent again. The one way
    # back is ``-> ready`` when the platform proves the handle expired with nothing published
    # from it, and never once the platform accepted a publish call (ADR 0012).
    S.PUBLISHING: frozenset(
        {S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.PUBLISHING, S.READY, S.SCHEDULED}
    ),
    # Accepted by a platform that publishes it at ``publish_at`` itself; confirmed after then.
    S.SCHEDULED: frozenset({S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.SCHEDULED, S.CANCELLED}),
    S.PUBLISHED: frozenset(),
    S.FAILED: frozenset({S.READY, S.CANCELLED}),
    S.NEEDS_ATTENTION: frozenset(
        {S.READY, S.PROCESSING, S.PUBLISHING, S.PUBLISHED, S.FAILED, S.CANCELLED}
    ),
    S.CANCELLED: frozenset({S.READY}),
}


def can_transition(src: PostState, dst: PostState) -> bool:
    """True when the state machine allows ``src -> dst``."""
    return dst in TRANSITIONS[src]


@dataclass(frozen=True)
class FileIdentity:
    """What says a file on disk is still the one that was planned: size, mtime and inode.

    A rewrite in place that keeps the size, on a filesystem whose timestamps are coarser than
    the time between the two writes (exFAT: 10 ms, FAT: 2 s, some SMB servers), keeps all three:
    that case is not detected (docs/operations.md).
    """

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileIdentity:
        """The identity an ``os.stat``/``os.fstat`` result describes."""
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        """Stat ``path`` (blocking; call it off the event loop)."""
        return cls.from_stat(os.stat(path))


@dataclass(frozen=True)
class ClipFiles:
    """A complete video + caption pair found on disk, before it is hashed."""

    video: Path
    caption: Path
    sidecar: Path | None
    root: Path  # the watched root the clip was found under
    account: str

    @property
    def rel(self) -> str:
        """The video's path relative to its watched root (what logs call ``clip``)."""
        return self.video.relative_to(self.root).as_posix()


@dataclass(frozen=True)
class Post:
    """One row of the ledger's posts table."""

    id: int
    clip_sha256: str
    account: str
    platform: str
    state: PostState
    attempts: int
    retry_at: datetime | None
    publish_at: datetime | None
    remote_ref: str | None  # JSON of the provider's RemoteRef, saved before the next step
    remote_id: str | None
    url: str | None
    last_error: str | None
    bytes_sent: int
    created_at: datetime
    updated_at: datetime
    attention: str | None = None  # why it needs attention: login, file, superseded, ...
    publish_accepted_at: datetime | None = None  # the platform took the publish call
