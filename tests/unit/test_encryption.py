"""AES-256-CBC upload parts: streamed part by part they are the one-shot ciphertext.

The reference is ``cryptography``'s one-shot encryption and Snapchat's own documented
command (``openssl enc -aes-256-cbc -nosalt -K .. -iv ..``, providers.md §6.2).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from atroposd.domain import FileIdentity
from atroposd.errors import SourceChanged
from atroposd.providers.base import RemoteRef
from atroposd.providers.chunks import MIB, SNAPCHAT_PLAN
from atroposd.providers.encryption import CbcKey, EncryptedSlice, ciphertext_size
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart
from tests.unit.multipart_server import serve
from tests.unit.streams_support import sha256_file, write_random

KEY = CbcKey(bytes(range(32)), bytes(range(100, 116)))
PART = 64 * 1024  # small parts, so small files still make many of them


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve() as url:
        yield url


def one_shot(plain: bytes, key: CbcKey = KEY) -> bytes:
    padder = padding.PKCS7(128).padder()
    enc = Cipher(algorithms.AES(key.key), modes.CBC(key.iv)).encryptor()
    return enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()


def decrypt(cipher: bytes, key: CbcKey = KEY) -> bytes:
    dec = Cipher(algorithms.AES(key.key), modes.CBC(key.iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(dec.update(cipher) + dec.finalize()) + unpadder.finalize()


async def read_all(part: EncryptedSlice) -> bytes:
    return b"".join([piece async for piece in part])


async def stream_parts(path: Path, size: int, preferred: int) -> list[bytes]:
    """Every part in order, each chained from the previous part's ``tail``."""
    out: list[bytes] = []
    chain: bytes | None = KEY.iv
    for c in SNAPCHAT_PLAN.split(ciphertext_size(size), preferred):
        part = EncryptedSlice(path, size, KEY, c.offset, c.length, chain=chain)
        out.append(await read_all(part))
        assert len(out[-1]) == c.length
        chain = part.tail
    return out


@pytest.mark.parametrize(
    "size", [0, 1, 15, 16, 17, PART - 16, PART, PART + 1, MIB - 1, MIB, MIB + 16, 3 * MIB + 5]
)
def test_streamed_parts_are_the_one_shot_ciphertext_and_decrypt_to_the_file(
    tmp_path: Path, size: int
) -> None:
    path = write_random(tmp_path / "v.mp4", size)
    plain = path.read_bytes()
    parts = asyncio.run(stream_parts(path, size, PART))
    assert len(parts) == len(SNAPCHAT_PLAN.split(ciphertext_size(size), PART)) <= 35
    cipher = b"".join(parts)
    assert len(cipher) == ciphertext_size(size) == (size // 16 + 1) * 16
    assert cipher == one_shot(plain)
    assert decrypt(cipher) == plain


def test_matches_snapchats_documented_openssl_command(tmp_path: Path) -> None:
    path = write_random(tmp_path / "v.mp4", 2 * MIB + 3)
    key = CbcKey.generate()
    out = tmp_path / "v.enc.mp4"
    command = ["openssl", "enc", "-aes-256-cbc", "-nosalt", "-e", "-in", str(path)]
    subprocess.run(
        [*command, "-out", str(out), "-K", key.key.hex(), "-iv", key.iv.hex()], check=True
    )
    total = ciphertext_size(2 * MIB + 3)
    cipher = asyncio.run(read_all(EncryptedSlice(path, 2 * MIB + 3, key, 0, total)))
    assert cipher == out.read_bytes()


@pytest.mark.parametrize("k", [0, 1, 7, 15])
def test_a_resume_at_part_k_gives_the_same_bytes_with_or_without_the_saved_chain(
    tmp_path: Path, k: int
) -> None:
    size = MIB + 12_345
    path = write_random(tmp_path / "v.mp4", size)
    expected = asyncio.run(stream_parts(path, size, PART))
    c = SNAPCHAT_PLAN.split(ciphertext_size(size), PART)[k]
    # The handle as a crashed upload left it: key, IV and the chain after part k - 1.
    chain = expected[k - 1][-16:] if k else KEY.iv
    saved = RemoteRef("snapchat_media", {**KEY.to_ref(), "chain": chain.hex()})
    reloaded = RemoteRef.from_json(saved.to_json())
    key = CbcKey.from_ref(reloaded.data)
    with_chain = EncryptedSlice(
        path, size, key, c.offset, c.length, chain=bytes.fromhex(reloaded.data["chain"])
    )
    recomputed = EncryptedSlice(path, size, key, c.offset, c.length)  # chain=None
    assert asyncio.run(read_all(with_chain)) == expected[k]
    assert asyncio.run(read_all(recomputed)) == expected[k]
    assert with_chain.tail == recomputed.tail == expected[k][-16:]


def test_snapchat_add_parts_over_multipart_parse_to_the_ciphertext(
    server: str, tmp_path: Path
) -> None:
    size = 2 * MIB + 77
    path = write_random(tmp_path / "v.mp4", size)
    chunks = SNAPCHAT_PLAN.split(ciphertext_size(size), MIB)

    async def main() -> list[dict[str, Any]]:
        found, chain = [], KEY.iv
        async with httpx.AsyncClient(timeout=60) as http:
            for c in chunks:
                part = EncryptedSlice(path, size, KEY, c.offset, c.length, chain=chain)
                body = MultipartBody(
                    [
                        TextPart("action", "ADD"),
                        TextPart("part_number", str(c.index + 1)),
                        StreamPart("file", c.length, lambda part=part: part, filename="part"),
                    ]
                )
                resp = await http.post(server, content=body, headers=body.headers)
                found.append(resp.json())
                assert found[-1]["received"] == body.content_length
                assert part.tail is not None
                chain = part.tail
        return found

    found = asyncio.run(main())
    expected = one_shot(path.read_bytes())
    assert len(found) == 3
    for c, answer in zip(chunks, found, strict=True):
        assert answer["defects"] == []
        action, number, file = answer["parts"]
        assert (action["value"], number["value"]) == ("ADD", str(c.index + 1))
        assert file["length"] == c.length
        assert file["sha256"] == hashlib.sha256(expected[c.offset : c.end]).hexdigest()


def test_a_64_mib_encrypted_part_streams_in_constant_memory(server: str, tmp_path: Path) -> None:
    size = 64 * MIB - 5
    path = write_random(tmp_path / "big.mp4", size)
    total = ciphertext_size(size)
    part = EncryptedSlice(path, size, KEY, 0, total)
    body = MultipartBody([TextPart("action", "ADD"), StreamPart("file", total, lambda: part)])

    async def main() -> tuple[dict[str, Any], int]:
        async with httpx.AsyncClient(timeout=120) as http:
            warm = MultipartBody([TextPart("warm", "up")])
            await http.post(server, content=warm, headers=warm.headers)
            await asyncio.to_thread(len, b"")  # the thread pool exists before the baseline
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            resp = await http.post(server, content=body, headers=body.headers)
            _, peak = tracemalloc.get_traced_memory()
        return resp.json(), peak - base

    tracemalloc.start()
    try:
        found, peak = asyncio.run(main())
    finally:
        tracemalloc.stop()
    assert found["received"] == body.content_length
    assert found["parts"][1]["length"] == total
    digest = hashlib.sha256()
    enc = Cipher(algorithms.AES(KEY.key), modes.CBC(KEY.iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    with path.open("rb") as f:
        while piece := f.read(MIB):
            digest.update(enc.update(padder.update(piece)))
    digest.update(enc.update(padder.finalize()) + enc.finalize())
    assert found["parts"][1]["sha256"] == digest.hexdigest()
    assert peak < 8 * MIB, f"client peak {peak / MIB:.1f} MiB for a 64 MiB encrypted body"
    assert sha256_file(path)  # the plaintext is untouched


def test_a_rewritten_file_stops_an_encrypted_part(tmp_path: Path) -> None:
    path = write_random(tmp_path / "v.mp4", MIB)
    identity = FileIdentity.from_stat(path.stat())
    with path.open("r+b") as f:
        f.write(b"edited")
    os.utime(path, ns=(identity.mtime_ns + 10**9, identity.mtime_ns + 10**9))
    part = EncryptedSlice(path, MIB, KEY, PART, PART, identity=identity)
    with pytest.raises(SourceChanged):
        asyncio.run(read_all(part))


def test_key_and_iv_round_trip_through_the_handle_and_never_print() -> None:
    key = CbcKey.generate()
    assert key != CbcKey.generate()
    ref = RemoteRef("snapchat_media", key.to_ref())
    assert CbcKey.from_ref(RemoteRef.from_json(ref.to_json()).data) == key
    assert key.key.hex() not in repr(key) and "redacted" in repr(key)
    with pytest.raises(ValueError):
        CbcKey.from_ref({"key": "not base64!", "iv": ""})
    with pytest.raises(ValueError):
        CbcKey(b"short", bytes(16))


@pytest.mark.parametrize(("offset", "length"), [(8, 16), (0, 24), (0, 0), (16, 1024 + 16)])
def test_a_slice_off_block_boundaries_or_past_the_end_is_refused(
    tmp_path: Path, offset: int, length: int
) -> None:
    path = write_random(tmp_path / "v.mp4", 1000)  # ciphertext: 1008 bytes
    with pytest.raises(ValueError):
        EncryptedSlice(path, 1000, KEY, offset, length)
