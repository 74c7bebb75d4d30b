"""Request and response bodies of the local API (they make the OpenAPI document)."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.responses import Response

from atroposd.api.queries import Job, overall

JobState = Literal[
    "queued", "running", "published", "partial", "needs_attention", "failed", "cancelled"
]


class PlatformPost(BaseModel):
    """One platform's post of a job."""

    post_id: int
    platform: str
    state: str
    attempts: int
    remote_id: str | None
    url: str | None
    last_error: str | None
    attention: str | None = Field(description="why it waits for a human (needs_attention)")
    next_attempt: str | None = Field(description="when it is tried again (UTC, ISO 8601)")
    publish_at: str | None
    bytes_sent: int
    updated_at: str


class JobOut(BaseModel):
    """A job: one clip of one account across its platforms, read from the ledger."""

    job_id: int
    account: str
    clip: str = Field(description="the video's path under its watched folder")
    video_path: str
    sha256: str
    size: int
    state: JobState
    finished: bool = Field(description="no platform has anything left to do")
    success: bool = Field(description="true only when every platform published")
    error: str | None = Field(description="what failed, per platform; null when nothing did")
    title: str
    description: str
    created_at: str
    updated_at: str
    platforms: list[PlatformPost]


class JobPage(BaseModel):
    jobs: list[JobOut]
    nextCursor: str | None


class JobRequest(BaseModel):
    """Enqueue a clip, or every clip of a project folder, inside the watched folders."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=4096, description="absolute path")
    account: str | None = Field(None, max_length=128, description="must match the folder's")
    platforms: list[str] | None = Field(
        None, description="some of the account's enabled platforms; the others are cancelled"
    )
    publish_at: AwareDatetime | None = Field(None, description="with a time zone, in the future")


class Enqueued(BaseModel):
    job_id: int
    clip: str
    new: bool = Field(description="false when the clip was already in the ledger")


class EnqueueOut(BaseModel):
    job_id: int | None = Field(
        description="the first clip's job (the only one for a single clip); null when the "
        "clips are planned in the background (`queued`)"
    )
    jobs: list[Enqueued] = Field(description="the clips planned before the answer")
    queued: list[str] = Field(
        default_factory=list,
        description="clips accepted and planned in the background (a folder of several clips)",
    )
    follow: str | None = Field(
        default=None, description="where the queued clips' jobs appear as they are planned"
    )


class ActionOut(BaseModel):
    job_id: int
    changed: list[int] = Field(description="the post ids that changed state")
    job: JobOut


class LibraryClip(BaseModel):
    """A clip of the library with its platforms' states, and the fields of the original
    library payload the desktop client needs to show it (it drops a clip whose
    ``duration_seconds`` is not a number, or whose ``playback_url``, ``source_url`` or
    ``source_title`` is not a string); what this daemon does not know is null."""

    id: str
    job_id: int
    title: str
    description: str
    account: str
    clip: str
    video_path: str
    created_at: str
    state: JobState
    platforms: list[PlatformPost]
    channel: str = Field(description="the account's display name")
    duration_seconds: float | None = Field(description="from the video's mvhd box")
    playback_url: str = Field(description="file:// URL of the video (same machine)")
    preview_url: str
    thumbnail_url: str | None = None
    source_url: str = Field(description="not known here: empty")
    source_title: str
    source_published_at: str | None = None
    source_duration_seconds: float | None = None
    video_id: str = Field(description="the clip's folder (a project), opaque")
    video_title: str
    views: int | None = None
    rating: float | None = None
    quote: str | None = None
    reason: str | None = None
    timestamp_url: str | None = None
    timestamp_seconds: float | None = None
    layout_id: str | None = None
    start_seconds: float = 0.0
    end_seconds: float | None = None
    original_start_seconds: float = 0.0
    original_end_seconds: float | None = None
    has_adjustments: bool = False


class ClipPage(BaseModel):
    clips: list[LibraryClip]
    nextCursor: str | None
    totalClips: int | None = Field(
        description="the account's clips, when asked with withTotal=true (else null)"
    )
    projects: list[dict[str, Any]] = Field(description="kept for the desktop client: empty")


class PlatformSetting(BaseModel):
    platform: str
    enabled: bool
    active: bool = Field(description="the original's name for enabled (desktop client)")
    label: str | None = None
    addedAt: str | None = None


class AccountOut(BaseModel):
    """An account of upload_config.json, with the original's camelCase fields the desktop
    client reads (what is not kept here is null)."""

    id: str
    displayName: str
    default: bool
    platforms: list[PlatformSetting]
    queued: int = Field(description="posts not finished yet")
    active: bool = Field(description="true when at least one platform is enabled")
    description: str | None = None
    createdAt: str | None = None
    tone: str | None = None
    defaultLayoutId: str | None = Field(None, description="the account's render layout")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    ready: bool
    checks: dict[str, bool]


class Problem(BaseModel):
    detail: str


def platform_post(row: sqlite3.Row) -> PlatformPost:
    return PlatformPost(
        post_id=row["id"],
        platform=row["platform"],
        state=row["state"],
        attempts=row["attempts"],
        remote_id=row["remote_id"],
        url=row["url"],
        last_error=row["last_error"],
        attention=row["attention"],
        next_attempt=row["retry_at"],
        publish_at=row["publish_at"],
        bytes_sent=row["bytes_sent"],
        updated_at=row["updated_at"],
    )


def title_of(caption: str, clip: str) -> str:
    """The caption's first non-empty line (the title the platforms get), else the file name."""
    for line in caption.splitlines():
        if line.strip():
            return line.strip()[:200]
    return clip


def job_out(job: Job) -> JobOut:
    head = job.posts[0]
    state = overall(job.states)
    errors = [
        f"{p['platform']}: {p['last_error'] or p['state']}"
        for p in job.posts
        if p["state"] in ("failed", "needs_attention")
    ]
    return JobOut(
        job_id=job.id,
        account=job.account,
        clip=head["clip_rel"],
        video_path=head["video_path"],
        sha256=job.sha256,
        size=head["size"],
        state=state,  # type: ignore[arg-type]
        finished=state not in ("queued", "running"),
        success=state == "published",
        error="; ".join(errors) or None,
        title=title_of(head["caption"], head["clip_rel"]),
        description=head["caption"],
        created_at=head["created_at"],
        updated_at=max(p["updated_at"] for p in job.posts),
        platforms=[platform_post(p) for p in job.posts],
    )


def project_of(clip_rel: str) -> PurePosixPath:
    """The clip's project folder: its folder, or the one above a ``shorts`` folder (the
    pipeline's ``<project>/shorts/<clip>.mp4``)."""
    folder = PurePosixPath(clip_rel).parent
    return folder.parent if folder.name == "shorts" else folder


def library_clip(job: Job, channel: str, video: Path, duration: float | None) -> LibraryClip:
    """The library's view of a job; ``video`` is where its file is now (maybe archived)."""
    out = job_out(job)
    folder = project_of(out.clip)
    playback = video.as_uri() if video.is_absolute() else ""
    return LibraryClip(
        channel=channel,
        duration_seconds=duration,
        playback_url=playback,
        preview_url=playback,
        source_url="",
        source_title=folder.name or out.title,
        video_id=base64.urlsafe_b64encode(f"{job.account}/{folder}".encode()).decode().rstrip("="),
        video_title=folder.name or out.title,
        end_seconds=duration,
        original_end_seconds=duration,
        id=str(job.id),
        job_id=job.id,
        title=out.title,
        description=out.description,
        account=out.account,
        clip=out.clip,
        video_path=str(video),
        created_at=out.created_at,
        state=out.state,
        platforms=out.platforms,
    )


def as_json(model: BaseModel) -> Response:
    """``model`` as a JSON response, serialized once (FastAPI would validate a returned model
    against ``response_model`` again: a third of a page's CPU)."""
    return Response(model.model_dump_json(), media_type="application/json")
