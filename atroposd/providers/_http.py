"""The one place where httpx exceptions and HTTP answers become ``atroposd.errors``."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

from atroposd.domain import FileIdentity
from atroposd.errors import SourceChanged, TransientError, Unreachable

PIECE = 1024 * 1024  # stream chunks from disk in 1 MiB pieces: constant memory (httpx#3733)
T = TypeVar("T")


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # asctime dates carry no zone; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or ``{}`` when the body is not a JSON object."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def guarded(platform: str, step: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one HTTP call; network failures become ``TransientError`` naming the step."""
    try:
        return await call()
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        raise Unreachable(
            f"{step}: cannot reach {platform} ({type(exc).__name__}); offline?",
            platform=platform,
            code="unreachable",
        ) from None
    except httpx.TimeoutException as exc:
        raise TransientError(
            f"{step}: timed out ({type(exc).__name__})", platform=platform, code="timeout"
        ) from None
    except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
        raise TransientError(
            f"{step}: connection failed ({type(exc).__name__})",
            platform=platform,
            code="network",
        ) from None


def check_identity(fd: int, path: Path, identity: FileIdentity | None) -> None:
    """Raise ``SourceChanged`` when the open file is not the one that was planned."""
    if identity is None:
        return
    now = FileIdentity.from_stat(os.fstat(fd))
    if now != identity:
        raise SourceChanged(
            f"{path}: the video changed after it was planned (size {identity.size} -> "
            f"{now.size}); not uploading a different file under the old plan"
        )


async def file_slice(
    path: Path, offset: int, length: int, identity: FileIdentity | None = None
) -> AsyncIterator[bytes]:
    """Yield ``length`` bytes of ``path`` from ``offset`` in pieces of at most 1 MiB.

    The file is checked against ``identity`` after each piece is read and before it is
    handed on, so a video replaced or rewritten during an upload is never mixed into it, the
    last piece included (a check before the read cannot see a write that lands during it).
    A same-size rewrite that keeps the mtime (coarse timestamps: exFAT, FAT, some SMB
    servers) is not seen: docs/operations.md. ``os.pread`` of 1 MiB from the page cache
    takes ~0.1 ms, far cheaper than a thread hop per piece (bench/upload.py), so pieces are
    read on the loop.
    """
    fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
    try:
        position, end = offset, offset + length
        while position < end:
            piece = os.pread(fd, min(PIECE, end - position), position)
            # After the read: a rewrite in place before or during it aborts the request
            # before this piece is sent, so the platform never completes a mixed file.
            check_identity(fd, path, identity)
            if not piece:
                raise OSError(f"{path}: file shrank while uploading (at byte {position})")
            position += len(piece)
            yield piece
    finally:
        os.close(fd)
