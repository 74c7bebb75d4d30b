"""The byte-moving half of YouTube's resumable protocol: ``PUT <session URI>``.

Content-Range rules follow Google's resumable upload servers (providers.md §1.2): see the
``youtube`` module docstring for what is and is not emulated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from atroposd.emulator.store import Store
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.youtube_meta import VideoMeta, google_error

CHUNK_MULTIPLE = 256 * 1024
PLATFORM = "youtube"
_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")
_PARSE_FAILED = "Failed to parse Content-Range header."


@dataclass
class Session:
    """A resumable session: the metadata of the video it will become."""

    upload_id: str
    account: str
    meta: VideoMeta
    parts: frozenset[str]
    total: int | None  # X-Upload-Content-Length, when the client declared it
    video_id: str | None = None


@dataclass(frozen=True)
class Video:
    """A completed upload."""

    id: str
    account: str
    meta: VideoMeta
    resource: dict[str, object]
    uploaded_at: float


@dataclass(frozen=True)
class ContentRange:
    """A parsed ``Content-Range``; ``first``/``last`` None for ``bytes */N``."""

    first: int | None
    last: int | None
    total: int | None


class RangeError(Exception):
    """The PUT's Content-Range/Content-Length cannot be accepted; 400 with this message."""


Publish = Callable[[Session], Video]


def parse_content_range(value: str) -> ContentRange:
    """Parse ``bytes a-b/N``, ``bytes */N`` (``N`` may be ``*``); raises ``RangeError``."""
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        raise RangeError(_PARSE_FAILED)
    first_raw, last_raw, total_raw = match.groups()
    total = None if total_raw == "*" else int(total_raw)
    if first_raw is None:
        return ContentRange(None, None, total)
    first, last = int(first_raw), int(last_raw)
    if last < first:
        raise RangeError(_PARSE_FAILED)
    return ContentRange(first, last, total)


def _check_total(session: Session, total: int | None) -> None:
    if total is None or session.total is None or total == session.total:
        return
    raise RangeError(
        f"Invalid request. The total size {total} in Content-Range does not match the "
        f"declared X-Upload-Content-Length of {session.total}."
    )


def plan_put(request: Request, session: Session, stored: int) -> int | None:
    """How many leading bytes of the body to skip (already stored); None for a status query."""
    length = request.content_length
    raw = request.header("content-range")
    if raw is None:
        if not length:
            raise RangeError("Media body is required.")
        cr = ContentRange(0, length - 1, length)  # a whole single-shot upload
    else:
        cr = parse_content_range(raw)
    _check_total(session, cr.total)
    if cr.first is None or cr.last is None:
        if length:
            raise RangeError(_PARSE_FAILED)
        return None
    if length != cr.last - cr.first + 1:
        raise RangeError("Content-Length does not match the byte range in Content-Range.")
    if cr.total is not None and cr.last >= cr.total:
        raise RangeError(_PARSE_FAILED)
    if cr.first > stored:
        raise RangeError(
            f"Invalid request.  According to the Content-Range header, the upload offset is "
            f"{cr.first} byte(s), which exceeds already uploaded size of {stored} byte(s)."
        )
    final = cr.total is not None and cr.last == cr.total - 1
    if not final and length % CHUNK_MULTIPLE:
        raise RangeError(
            f"Invalid request. The chunk size {length} is not a multiple of {CHUNK_MULTIPLE} "
            "bytes and this is not the final chunk."
        )
    if session.total is None and cr.total is not None:
        session.total = cr.total
    return min(stored - cr.first, length)


def incomplete(stored: int) -> Response:
    """308 Resume Incomplete, with ``Range`` only when something is stored."""
    headers = (("Range", f"bytes=0-{stored - 1}"),) if stored else ()
    return Response(308, b"", (*headers, ("Content-Type", "text/plain; charset=utf-8")))


def completed(video: Video) -> Response:
    """200 with the video resource."""
    return Response.json(200, video.resource)


async def put_session(
    request: Request, session: Session, store: Store, videos: dict[str, Video], publish: Publish
) -> Response:
    """Store a chunk or answer a status query for one session."""
    if session.video_id is not None:
        return completed(videos[session.video_id])
    if request.content_length is None and request.header("transfer-encoding"):
        return google_error(411, "lengthRequired", "Content-Length is required.", "global")
    upload = store.uploads[(PLATFORM, session.upload_id)]
    async with upload.lock:
        if session.video_id is not None:  # completed while this request waited
            return completed(videos[session.video_id])
        if (PLATFORM, session.upload_id) not in store.uploads:
            return google_error(404, "notFound", "Not Found", "global")
        try:
            skip = plan_put(request, session, upload.blob.size)
        except RangeError as exc:
            return google_error(400, "badRequest", str(exc), "global")
        if skip is None:
            return incomplete(upload.blob.size)
        await upload.blob.append(request.stream(), skip=skip, align=CHUNK_MULTIPLE)
        upload.total = session.total
        if session.total is not None and upload.blob.size == session.total:
            return completed(publish(session))
        return incomplete(upload.blob.size)
