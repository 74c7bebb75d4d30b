"""The byte-moving half of TikTok's direct post: ``PUT <upload_url>`` with ``Content-Range``.

Rules (media transfer guide, providers.md §5.2): no Authorization header (the
``upload_token`` in the URL is the credential); ``Content-Type`` video/mp4, video/quicktime or
video/webm; ``Content-Range: bytes a-b/N`` naming exactly one of the chunks ``init``
declared, ``N`` the declared video size, ``Content-Length`` equal to the range; chunks strictly
in order. 206 for a chunk, 201 once every byte is in. A chunk cut off mid-body is not kept
(TikTok cannot resume inside a chunk). A chunk already held is answered as before, stores
nothing, and is recorded in ``chunks_resent`` so tests can prove no client sends one twice.
An expired upload URL answers 403 ``upload_url_expired`` (TikTok's own code for it is not
documented: providers.md §9.4).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from atroposd.emulator.store import Store
from atroposd.emulator.tiktok_rules import MEDIA_TYPES, PLATFORM, Publish, chunk_range, error
from atroposd.emulator.wire import Request, Response

_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
Complete = Callable[[Publish], None]


def _stored(publish: Publish, status: int) -> Response:
    return Response(status, b"", (("Content-Type", "application/json; charset=UTF-8"),))


def _index(request: Request, publish: Publish) -> int | Response:
    """The chunk this PUT carries, or the 4xx answer refusing it."""
    kind = request.header("content-type", "").split(";")[0].strip().lower()
    if kind not in MEDIA_TYPES:
        return error(400, "invalid_file_upload", f"Content-Type {kind or 'none'} is not allowed.")
    length = request.content_length
    if length is None:
        return error(411, "invalid_params", "Content-Length is required.")
    match = _RANGE.fullmatch(request.header("content-range", "").strip())
    if match is None:
        return error(400, "invalid_params", "Content-Range must be 'bytes first-last/total'.")
    first, last, total = (int(g) for g in match.groups())
    if total != publish.size:
        return error(400, "invalid_params", f"The total in Content-Range must be {publish.size}.")
    if length != last - first + 1:
        return error(400, "invalid_params", "Content-Length does not match Content-Range.")
    index = first // publish.chunk_size
    if index >= publish.chunks or (first, last) != chunk_range(
        publish.size, publish.chunk_size, publish.chunks, index
    ):
        return error(416, "invalid_params", "Content-Range is not one of the declared chunks.")
    return index


async def put_chunk(
    request: Request, publish: Publish, store: Store, now: float, complete: Complete
) -> Response:
    """Store one chunk of ``publish``; ``complete`` runs once every byte is in."""
    if request.query.get("upload_token") != publish.upload_token:
        return error(403, "invalid_params", "The upload token is invalid.")
    if publish.completed_at is None and now >= publish.expires_at:
        return error(403, "upload_url_expired", "The upload URL has expired.")
    index = _index(request, publish)
    if isinstance(index, Response):
        return index
    held = publish.blob.size
    first, last = chunk_range(publish.size, publish.chunk_size, publish.chunks, index)
    if last < held:  # sent again: keep what is stored
        publish.resent.append(index)
        await request.discard()
        return _stored(publish, 201 if held == publish.size else 206)
    if first != held:
        return error(416, "invalid_params", f"Chunks must arrive in order; next byte is {held}.")
    upload = store.uploads.get((PLATFORM, publish.upload_id))
    if upload is None:
        return error(404, "not_found", "The upload does not exist.")
    async with upload.lock:
        if publish.blob.size != held:
            return error(409, "invalid_params", "Another request is sending this chunk.")
        await publish.blob.append(request.stream(), align=last - first + 1)
        publish.received.append(index)
        if publish.blob.size == publish.size:
            complete(publish)
            return _stored(publish, 201)
    return _stored(publish, 206)
