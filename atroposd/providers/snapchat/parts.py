"""Sending the encrypted file as multipart ``ADD`` parts, resumable from the saved handle.

The handle (``RemoteRef.data``) holds what a resume needs to send the very same bytes: the
key and IV (``CbcKey.to_ref``), the part size chosen for this media, how many parts Snap
acknowledged and the last ciphertext block of the last one (``chain``), so part *k* is
encrypted on its own from disk (providers/encryption.py), never the whole file in memory.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from atroposd.providers.base import Progress, RemoteRef, SaveRef, UploadRequest
from atroposd.providers.chunks import SNAPCHAT_PLAN, Chunk
from atroposd.providers.encryption import CbcKey, EncryptedSlice, ciphertext_size
from atroposd.providers.snapchat.api import SnapApi
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart

MEDIA = "snapchat_media"


def acked(data: Mapping[str, str]) -> int:
    """Ciphertext bytes in the parts Snap acknowledged (whole parts, from the handle)."""
    parts, size = int(data.get("parts", "0")), int(data["size"])
    return min(parts * int(data["part_size"]), ciphertext_size(size))


def _chain(data: Mapping[str, str]) -> bytes | None:
    raw = data.get("chain")
    return base64.b64decode(raw) if raw else None


def _body(
    request: UploadRequest, key: CbcKey, chunk: Chunk, chain: bytes | None
) -> tuple[MultipartBody, list[EncryptedSlice]]:
    made: list[EncryptedSlice] = []

    def source() -> EncryptedSlice:
        made.append(
            EncryptedSlice(
                request.path,
                request.size,
                key,
                chunk.offset,
                chunk.length,
                chain=chain,
                identity=request.identity,
            )
        )
        return made[-1]

    number = str(chunk.index + 1)
    body = MultipartBody(
        [
            TextPart("action", "ADD"),
            TextPart("part_number", number),
            StreamPart("file", chunk.length, source, filename=f"part{number}"),
        ]
    )
    return body, made


async def send_parts(
    api: SnapApi,
    request: UploadRequest,
    ref: RemoteRef,
    save_ref: SaveRef,
    progress: Progress | None,
) -> RemoteRef:
    """ADD every part Snap has not acknowledged yet, saving the handle after each one."""
    data = dict(ref.data)
    key = CbcKey.from_ref(data)
    total, part_size = ciphertext_size(request.size), int(data["part_size"])
    offset, chain = acked(data), _chain(data)
    while offset < total:
        chunk = SNAPCHAT_PLAN.next_chunk(total, part_size, offset)
        body, made = _body(request, key, chunk, chain)
        await api.add(request.account, data["add_path"], body, chunk.index + 1)
        tail = made[-1].tail if made else None
        chain, offset = tail, chunk.end
        data["parts"] = str(chunk.index + 1)
        if tail is not None:
            data["chain"] = base64.b64encode(tail).decode()
        else:
            data.pop("chain", None)  # recomputed from the plaintext on a resume
        ref = RemoteRef(MEDIA, data)
        await save_ref(ref)  # before the next part: a resume never resends this one
        if progress:
            progress(min(offset, request.size), request.size)
    return ref
