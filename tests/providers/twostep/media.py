"""The two-step platform's media items and its byte-moving step (``PUT <upload_url>``).

A media item is ``uploading`` until its last byte is stored, then ``processing`` for a short
while, then ``ready``; every accepted publish adds a post and makes it ``published``. A
second publish of the same media adds a *second* post: the platform does not protect
against double posts, so the pipeline must.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from atroposd.emulator.store import Blob, Store, Upload
from atroposd.emulator.wire import Request, Response

PLATFORM = "twostep"
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def error(status: int, code: str, message: str) -> Response:
    """The platform's error envelope: ``{"error": {"code", "message"}}``."""
    return Response.json(status, {"error": {"code": code, "message": message}})


def fault_body(status: int) -> object:
    """What a fault rule without a body answers with."""
    if status == 429:
        return {"error": {"code": "rate_limited", "message": "Too many requests; slow down."}}
    if status >= 500:
        return {"error": {"code": "unavailable", "message": "The service is unavailable."}}
    return {"error": {"code": "error", "message": f"HTTP {status}"}}


@dataclass
class Media:
    """One media item: who owns it, what it will be called, its bytes and its posts."""

    id: str
    account: str
    title: str
    size: int
    upload_id: str  # the Store's upload session while bytes are arriving
    blob: Blob
    completed_at: float | None = None  # store clock when the last byte was stored
    post_ids: list[str] = field(default_factory=list)
    expired: bool = False  # past its life unpublished (``/_emulator/twostep/expire``)

    def state(self, now: float, processing_seconds: float) -> str:
        """``uploading``, ``processing``, ``ready``, ``published`` or ``expired``."""
        if self.post_ids:
            return "published"
        if self.expired:
            return "expired"
        if self.completed_at is None:
            return "uploading"
        return "processing" if now - self.completed_at < processing_seconds else "ready"

    def to_json(self, now: float, processing_seconds: float) -> dict[str, object]:
        """The ``GET /v1/media/{id}`` answer."""
        return {
            "id": self.id,
            "state": self.state(now, processing_seconds),
            "size": self.size,
            "offset": self.blob.size,
            "post_id": self.post_ids[0] if self.post_ids else None,
            "post_ids": list(self.post_ids),
        }


def plan_chunk(request: Request, media: Media) -> int:
    """Bytes of the body to skip (already stored); raises ``ValueError`` with the reason."""
    match = _RANGE.fullmatch(request.header("content-range", "").strip())
    if match is None:
        raise ValueError("Content-Range must be 'bytes first-last/total'.")
    first, last, total = (int(g) for g in match.groups())
    if last < first or total != media.size or last >= total:
        raise ValueError(f"Content-Range {first}-{last}/{total} does not fit {media.size} bytes.")
    if request.content_length != last - first + 1:
        raise ValueError("Content-Length does not match the byte range in Content-Range.")
    stored = media.blob.size
    if first > stored:
        raise ValueError(f"The chunk starts at byte {first}; only {stored} byte(s) are stored.")
    return stored - first  # the overlap with what is stored is ignored


async def put_chunk(request: Request, media: Media, upload: Upload, store: Store) -> Response:
    """Store one chunk; once the last byte is in, the media starts processing."""
    async with upload.lock:
        if media.completed_at is not None:  # a replay after completion: nothing to store
            await request.discard()
            return Response.json(200, {"offset": media.blob.size})
        if (PLATFORM, upload.id) not in store.uploads:
            return error(404, "not_found", "The upload does not exist or has expired.")
        try:
            skip = plan_chunk(request, media)
        except ValueError as exc:
            return error(400, "invalid_range", str(exc))
        await media.blob.append(request.stream(), skip=min(skip, request.content_length or 0))
        if media.blob.size == media.size:
            media.completed_at = store.clock()
            store.uploads.pop((PLATFORM, upload.id), None)  # no longer an in-progress upload
        return Response.json(200, {"offset": media.blob.size})
