"""Facebook Page Reels for the emulator: one reel's phases, its ``status`` answer, the Page cap.

Pure state, no I/O: ``facebook.py`` does the HTTP (providers.md §4.1, §8.3).

A reel (a ``video_id`` from ``upload_phase=start``) goes through three phases, each
``not_started`` → ``in_progress`` → ``complete`` (or ``error``):

- ``uploading_phase``: bytes arrive at the upload host (``bytes_transferred``);
- ``processing_phase``: starts when the last byte is stored and lasts ``processing_seconds``;
  a processing error queued through the control API ends it in ``error`` with ``errors``;
- ``publishing_phase``: starts with an accepted ``upload_phase=finish``; ``complete`` (with
  ``publish_status`` ``published`` / ``scheduled`` / ``draft`` and ``publish_time``) once
  processing is complete. A scheduled reel turns ``published`` when the emulator's clock
  reaches its ``scheduled_publish_time`` (the platform publishes it, not the client).

``video_status`` follows: ``uploading`` → ``processing`` → ``ready`` (processed, published or
not) or ``error``.

The Page cap (providers.md §4.4): at most ``limit`` (30) reels published or scheduled through
the API per Page in a rolling 24 h, counted by the time ``finish`` was accepted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from atroposd.emulator.store import PostRecord

REELS_PER_DAY = 30  # providers.md §4.4 [OFF, page updated 2026-07-30]
WINDOW_SECONDS = 24 * 3600.0
MIN_LEAD_SECONDS = 10 * 60  # scheduled_publish_time: at least 10 minutes ahead ...
MAX_LEAD_SECONDS = 30 * 24 * 3600  # ... and at most 30 days (safe reading, see facebook.py)


class FbClock:
    """Wall-clock seconds the emulator's Facebook lives in; the control API moves it ahead."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        """Unix seconds, advanced by ``offset``."""
        return time.time() + self.offset

    def iso(self, when: float) -> str:
        """Graph's timestamp format, e.g. ``2026-12-06T06:30:00+0000``."""
        return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class Reel:
    """One reel of a Page."""

    id: str
    page_id: str
    account: str
    created: float  # FbClock time of upload_phase=start
    uploaded_at: float | None = None  # store clock (monotonic) when the last byte was stored
    size: int = 0
    processing_error: tuple[int, str] | None = None  # (code, message) when processing fails
    state: str | None = None  # PUBLISHED / SCHEDULED / DRAFT once a finish was accepted
    finished_at: float | None = None  # FbClock time of the (first) accepted finish
    scheduled_at: float | None = None
    title: str = ""
    description: str = ""
    posts: list[PostRecord] = field(default_factory=list)  # one per accepted finish
    expired: bool = False  # never finished, and Facebook let it lapse (control expire_reels)

    def processing(self, mono_now: float, processing_seconds: float) -> str:
        """``not_started``, ``in_progress``, ``complete`` or ``error``."""
        if self.uploaded_at is None:
            return "not_started"
        if mono_now - self.uploaded_at < processing_seconds:
            return "in_progress"
        return "error" if self.processing_error is not None else "complete"

    def publish_status(self, fb_now: float) -> str:
        """``published``, ``scheduled`` or ``draft`` (meaningful once a finish was accepted)."""
        if self.state == "DRAFT":
            return "draft"
        if self.state == "SCHEDULED" and (self.scheduled_at or 0) > fb_now:
            return "scheduled"
        return "published"

    def published(self, fb_now: float) -> bool:
        """Visible on the Page as a published (not scheduled, not draft) reel."""
        return self.state is not None and self.publish_status(fb_now) == "published"

    def status(
        self, held: int, mono_now: float, fb_now: float, processing_seconds: float, clock: FbClock
    ) -> dict[str, object]:
        """The ``status`` field of ``GET /{video_id}?fields=status``."""
        proc = self.processing(mono_now, processing_seconds)
        uploading: dict[str, object] = {
            "status": "complete"
            if self.uploaded_at is not None
            else ("in_progress" if held else "not_started"),
            "bytes_transferred": held,
        }
        processing: dict[str, object] = {"status": proc}
        if proc == "error" and self.processing_error is not None:
            code, message = self.processing_error
            processing["errors"] = [{"code": code, "message": message}]
        publishing: dict[str, object] = {"status": "not_started"}
        if self.state is not None and proc != "error":
            publishing = {"status": "complete" if proc == "complete" else "in_progress"}
            if proc == "complete":
                publishing["publish_status"] = self.publish_status(fb_now)
                when = self.scheduled_at if self.state == "SCHEDULED" else self.finished_at
                publishing["publish_time"] = clock.iso(when or fb_now)
        video_status = {
            "not_started": "uploading",
            "in_progress": "processing",
            "complete": "ready",
            "error": "error",
        }[proc]
        if self.expired:
            video_status = "expired"
        done = {"not_started": 0, "in_progress": 50, "complete": 100, "error": 100}[proc]
        return {
            "video_status": video_status,
            "processing_progress": done,
            "uploading_phase": uploading,
            "processing_phase": processing,
            "publishing_phase": publishing,
        }

    def listing(self, clock: FbClock) -> dict[str, object]:
        """One item of ``GET /{page_id}/video_reels``."""
        item: dict[str, object] = {
            "id": self.id,
            "description": self.description,
            "title": self.title,
            "created_time": clock.iso(self.created),
            "published": self.published(clock.now()),
            "permalink_url": f"/reel/{self.id}",
        }
        if self.state == "SCHEDULED" and self.scheduled_at is not None:
            item["scheduled_publish_time"] = int(self.scheduled_at)
        return item


class PageCap:
    """Reels published or scheduled through the API per Page in a rolling window."""

    def __init__(self) -> None:
        self.limit = REELS_PER_DAY
        self.window = WINDOW_SECONDS
        self._accepted: dict[str, list[float]] = {}  # page -> FbClock times of finishes

    def reset(self) -> None:
        """Back to Meta's numbers, nothing counted."""
        self.limit, self.window = REELS_PER_DAY, WINDOW_SECONDS
        self._accepted.clear()

    def _recent(self, page_id: str, now: float) -> list[float]:
        kept = [t for t in self._accepted.get(page_id, []) if now - t < self.window]
        self._accepted[page_id] = kept
        return kept

    def free_in(self, page_id: str, now: float) -> float | None:
        """Seconds until the Page may publish again; None when it may now."""
        recent = self._recent(page_id, now)
        if len(recent) < self.limit:
            return None
        if self.limit <= 0:
            return self.window  # nothing may go out: say a whole window
        oldest_needed = sorted(recent)[len(recent) - self.limit]
        return max(0.0, oldest_needed + self.window - now)

    def count(self, page_id: str, now: float) -> None:
        """One more reel published (or scheduled) through the API."""
        self._accepted.setdefault(page_id, []).append(now)
