"""Snapchat's media objects in the emulator: encrypted parts in, decrypted video out.

``ADD`` stores each multipart ``file`` part on disk under its ``part_number`` (1..35, at
most 32 MiB, any order, a part sent again replaces the stored one); ``FINALIZE`` joins the
parts by number, decrypts them with the AES-256-CBC key and IV given at create time, strips
the PKCS#7 padding and checks the plaintext is a video (an ``ftyp`` box first) - an
encryption or padding bug fails here, as "invalid file" (providers.md §8.5). The decrypted
bytes are written and hashed as they come (``Blob``), so the post's ``sha256`` is the
original file's. Processing then takes ``processing_seconds``; a file without a ``moov``
box (no playable video) fails processing with Snap's reason.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from atroposd.emulator.store import Blob, Upload

PART_MAX = 32 * 1024 * 1024
PARTS_MAX = 35
PIECE = 1 << 20
MEDIA_TTL = 24 * 3600.0  # a media object stays usable for 24 hours (Snap's docs)


class MediaError(Exception):
    """A request the media cannot take; ``code`` and the message go in Snap's envelope."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class Media:
    """One media container: its key, its parts, then its decrypted video."""

    id: str
    profile: str
    account: str
    name: str
    key: bytes
    iv: bytes
    upload: Upload  # the store's session while parts arrive (``/_emulator/uploads``)
    upload_token: str  # in add_path/finalize_path: a rebuilt path does not find the media
    created: float
    folder: Path
    parts: dict[int, int] = field(default_factory=dict)  # part number -> bytes held
    stores: dict[int, int] = field(default_factory=dict)  # part number -> times stored
    finalized_at: float | None = None
    failure: str | None = None  # why processing fails (no playable video)
    posted: list[str] = field(default_factory=list)  # spotlight/story ids made from it

    def status(self, now: float, processing_seconds: float) -> str:
        """PENDING_UPLOAD, PROCESSING, READY or FAILED."""
        if self.finalized_at is None:
            return "PENDING_UPLOAD"
        if now - self.finalized_at < processing_seconds:
            return "PROCESSING"
        return "FAILED" if self.failure else "READY"

    def expired(self, now: float) -> bool:
        """Older than 24 hours."""
        return now - self.created >= MEDIA_TTL

    def to_json(self, now: float, processing_seconds: float) -> dict[str, object]:
        """The media entity of ``GET .../media/{id}``."""
        body: dict[str, object] = {
            "id": self.id,
            "name": self.name,
            "type": "VIDEO",
            "media_status": self.status(now, processing_seconds),
            "public_profile_id": self.profile,
        }
        if body["media_status"] == "FAILED":
            body["failure_reason"] = self.failure
        return body

    def introspect(self, now: float, processing_seconds: float) -> dict[str, object]:
        """For tests: which parts are held and how often each was stored."""
        return {
            "id": self.id,
            "account": self.account,
            "status": self.status(now, processing_seconds),
            "parts": {str(n): size for n, size in sorted(self.parts.items())},
            "stores": {str(n): count for n, count in sorted(self.stores.items())},
            "posted": list(self.posted),
        }


def form_fields(data: bytes, content_type: str) -> dict[str, tuple[int, int]]:
    """``name -> (start, end)`` of each part of a multipart/form-data body in ``data``."""
    boundary = ""
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise MediaError(400, "INVALID_REQUEST", "The request must be multipart/form-data.")
    delim = b"--" + boundary.encode()
    if not data.startswith(delim):
        raise MediaError(400, "INVALID_REQUEST", "Malformed multipart body.")
    fields: dict[str, tuple[int, int]] = {}
    pos = len(delim)
    while data[pos : pos + 2] != b"--":
        head_end = data.find(b"\r\n\r\n", pos)
        end = data.find(b"\r\n" + delim, head_end)
        if head_end < 0 or end < 0:
            raise MediaError(400, "INVALID_REQUEST", "Malformed multipart body.")
        head = data[pos + 2 : head_end].decode("utf-8", "replace")
        name = head.partition('name="')[2].partition('"')[0]
        fields[name] = (head_end + 4, end)
        pos = end + 2 + len(delim)
    return fields


def _store(path: Path, view: memoryview) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        handle.write(view)
    os.replace(tmp, path)


async def add_part(media: Media, number: int, view: memoryview) -> None:
    """Store one encrypted part (replacing an earlier copy of the same number)."""
    if not 1 <= number <= PARTS_MAX:
        raise MediaError(400, "INVALID_PART_NUMBER", f"part_number must be 1..{PARTS_MAX}.")
    if not 0 < len(view) <= PART_MAX:
        raise MediaError(400, "INVALID_FILE", "invalid file or exceeds size limit (32 MB).")
    media.folder.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_store, media.folder / f"{number}.part", view)
    media.parts[number] = len(view)
    media.stores[number] = media.stores.get(number, 0) + 1
    media.upload.blob.arrived = sum(media.parts.values())


def _decrypt_piece(handle: object, decryptor: object, unpadder: object) -> bytes:
    raw = handle.read(PIECE)  # type: ignore[attr-defined]
    if not raw:
        return b""
    return unpadder.update(decryptor.update(raw))  # type: ignore[attr-defined,no-any-return]


async def _plaintext(media: Media) -> AsyncIterator[bytes]:
    cipher = Cipher(algorithms.AES(media.key), modes.CBC(media.iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    first = True
    for number in range(1, len(media.parts) + 1):
        with (media.folder / f"{number}.part").open("rb") as handle:
            while out := await asyncio.to_thread(_decrypt_piece, handle, cipher, unpadder):
                if first and out[4:8] != b"ftyp":
                    raise MediaError(400, "INVALID_FILE", "invalid file: not an MP4 video.")
                first = False
                yield out
    try:
        tail = unpadder.update(cipher.finalize()) + unpadder.finalize()
    except ValueError:
        raise MediaError(400, "INVALID_FILE", "invalid file: cannot decrypt it.") from None
    if tail:
        yield tail


def _moov_missing(path: Path) -> str | None:
    """Why the file is no playable MP4 (no top-level ``moov`` box), or None."""
    size, pos = path.stat().st_size, 0
    with path.open("rb") as handle:
        while pos + 8 <= size:
            handle.seek(pos)
            length, kind = struct.unpack(">I4s", handle.read(8))
            if length == 1:
                length = struct.unpack(">Q", handle.read(8))[0]
            elif length == 0:
                length = size - pos
            if kind == b"moov":
                return None
            if length < 8:
                break
            pos += length
    return "Media processing failed: the video has no moov box (not a playable MP4)."


async def finalize(media: Media, now: float) -> None:
    """Join, decrypt and check the parts; the media then processes."""
    numbers = sorted(media.parts)
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise MediaError(400, "MISSING_PARTS", f"Parts must be 1..N without gaps; got {numbers}.")
    if sum(media.parts.values()) % 16:
        raise MediaError(400, "INVALID_FILE", "invalid file: not whole AES blocks.")
    media.upload.blob.arrived = 0
    try:
        await media.upload.blob.append(_plaintext(media))
    except (MediaError, ValueError) as exc:
        media.upload.blob = Blob(media.upload.blob.path)  # nothing of the bad file is kept
        media.upload.blob.arrived = sum(media.parts.values())
        if isinstance(exc, MediaError):
            raise
        raise MediaError(400, "INVALID_FILE", "invalid file: cannot decrypt it.") from None
    media.failure = await asyncio.to_thread(_moov_missing, media.upload.blob.path)
    media.finalized_at = now
