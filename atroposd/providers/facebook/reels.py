"""Reading a reel's ``status`` (providers.md §4.1 step 4, §4.6) as a ``RemoteStatus``.

``GET /{video_id}?fields=status`` → ``{"status": {"video_status", "uploading_phase":
{"status", "bytes_transferred"}, "processing_phase": {"status", "errors"}, "publishing_phase":
{"status", "publish_status", "publish_time"}}}``. Phase values ``not_started``,
``in_progress``, ``complete``, ``error``; ``video_status`` ``uploading``, ``upload_complete``,
``upload_failed``, ``processing``, ``ready``, ``error``, ``expired`` [3P typed model citing the
Reels doc; Meta Postman collection copy].

The rule that keeps a reel from being published twice: ``READY`` (``finish`` may be sent) only
when every byte is there, nothing failed and the publishing phase has not started. A reel that
``expired`` with no publishing started is ``EXPIRED`` (ADR 0012: the pipeline uploads again). A
publishing phase in progress or complete, or a ``publish_status`` of ``published`` or
``scheduled``, means Facebook took a ``finish``: never ``READY`` again. ``video_status ==
"ready"`` alone says the video is processed, not that it is published.

A ``scheduled`` reel is done for now while its ``publish_time`` is ahead (Facebook publishes
it: the pipeline records ``scheduled``); once that time has passed and Facebook still says
``scheduled``, it is not published yet: ``PROCESSING``, asked again (ADR 0015).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from atroposd.providers.base import RemotePhase, RemoteStatus

FAILED_VIDEO = frozenset({"error", "upload_failed", "expired"})
EXPIRED_WHY = "the reel expired on Facebook before it was published"
LIVE = frozenset({"published", "scheduled"})


def reel_url(video_id: str) -> str:
    """Where a reel can be seen."""
    return f"https://www.facebook.com/reel/{video_id}"


def _phase(status: dict[str, Any], name: str) -> dict[str, Any]:
    value = status.get(name)
    return value if isinstance(value, dict) else {}


def _failure(status: dict[str, Any]) -> str | None:
    """Why the reel failed, in Facebook's words; None when nothing failed."""
    for name in ("uploading_phase", "processing_phase", "publishing_phase"):
        phase = _phase(status, name)
        if phase.get("status") != "error":
            continue
        errors = phase.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        first = first if isinstance(first, dict) else {}
        message = str(first.get("message") or f"{name} failed")
        code = first.get("code")
        return f"{name.removesuffix('_phase')}: {message}" + (f" ({code})" if code else "")
    video_status = str(status.get("video_status") or "")
    if video_status in FAILED_VIDEO:
        return f"video_status {video_status}"
    return None


def graph_time(value: object) -> datetime | None:
    """A Graph time (``2026-12-06T06:30:00+0000`` or unix seconds); None when unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str) and value.strip().isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except (ValueError, OverflowError, OSError):
        return None
    return when if when is not None and when.tzinfo is not None else None


def held_past_time(when: datetime | None, now: datetime) -> bool:
    """A reel Facebook still shows scheduled although its publish time has come."""
    return when is not None and when <= now


def read_status(
    video_id: str,
    body: dict[str, Any],
    size: int,
    now: datetime,
    planned: datetime | None = None,
) -> RemoteStatus:
    """The reel's phase: uploading (with the bytes held), ready for ``finish``, processing after
    ``finish`` (or scheduled past its time), published (or scheduled: Facebook publishes it
    itself), or failed. ``planned`` is the publish time we asked for, read when Facebook's
    ``publish_time`` is missing."""
    raw = body.get("status")
    status: dict[str, Any] = raw if isinstance(raw, dict) else {}
    url = reel_url(video_id)
    publishing = _phase(status, "publishing_phase")
    started = publishing.get("status") in ("in_progress", "complete")
    started = started or publishing.get("publish_status") in LIVE
    if status.get("video_status") == "expired" and not started:
        # Never finished: a new reel is safe once the Page's reels do not list it either
        # (the provider's ``status`` checks; ADR 0012).
        return RemoteStatus(RemotePhase.EXPIRED, remote_id=video_id, reason=EXPIRED_WHY)
    why = _failure(status)
    if why is not None:
        return RemoteStatus(RemotePhase.FAILED, remote_id=video_id, url=url, reason=why)
    if publishing.get("publish_status") == "scheduled":
        when = graph_time(publishing.get("publish_time")) or planned
        if held_past_time(when, now):  # its time has come, Facebook has not published it
            return RemoteStatus(RemotePhase.PROCESSING, offset=size, remote_id=video_id, url=url)
    if publishing.get("status") == "complete" or publishing.get("publish_status") in LIVE:
        return RemoteStatus(RemotePhase.PUBLISHED, offset=size, remote_id=video_id, url=url)
    if publishing.get("status") == "in_progress":
        return RemoteStatus(RemotePhase.PROCESSING, offset=size, remote_id=video_id, url=url)
    uploading = _phase(status, "uploading_phase")
    if uploading.get("status") != "complete":
        held = uploading.get("bytes_transferred")
        offset = held if isinstance(held, int) and not isinstance(held, bool) else 0
        return RemoteStatus(RemotePhase.UPLOADING, offset=offset, remote_id=video_id)
    return RemoteStatus(RemotePhase.READY, offset=size, remote_id=video_id, url=url)
