"""AES-256-CBC with PKCS#7 padding, streamed from disk one upload part at a time.

Snapchat wants the media encrypted with a fresh 32-byte key and 16-byte IV (``openssl enc
-aes-256-cbc -nosalt``), the ciphertext split into parts of at most 32 MB, and the key and IV
(base64) in the create-media call (providers.md §6.2, §11). The key and IV live in the saved
handle (``CbcKey.to_ref``), so a resumed upload produces the very same ciphertext.

Resuming at part ``k`` without re-encrypting parts ``0..k-1``: in CBC, ciphertext block
``i`` is ``E(P_i xor C_{i-1})`` (``C_{-1}`` = IV), so the ciphertext from any block boundary
on depends only on the plaintext from there and the one ciphertext block before it. Parts
are whole 16-byte blocks (``SNAPCHAT_PLAN.multiple``), so part ``k`` is the encryption of its
own plaintext with the previous part's last ciphertext block as IV. That block is 16
bytes the platform already has (it is ciphertext, not a secret beyond the key): a provider
saves it in the handle after each acknowledged part (``EncryptedSlice.tail``). Without it
(an older handle) it is recomputed by encrypting the plaintext before the part, in a thread:
O(offset) CPU, ~3 ms per MiB here, and the same bytes either way.

The last part carries the PKCS#7 padding: 1..16 bytes, so the ciphertext is the plaintext
size rounded up to the next multiple of 16, plus 16 when already aligned.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from atroposd.domain import FileIdentity
from atroposd.providers._http import PIECE, check_identity, file_slice

BLOCK = 16
KEY_BYTES = 32


def pkcs7_tail(plain_size: int) -> bytes:
    """The PKCS#7 padding after ``plain_size`` bytes: ``n`` bytes of value ``n``, 1..16.

    Written here rather than by ``cryptography``'s padder, which would copy every piece of
    the last part to add these few bytes (tests check it against the padder and openssl).
    """
    n = BLOCK - plain_size % BLOCK
    return bytes([n]) * n


def ciphertext_size(plain_size: int) -> int:
    """Bytes of the AES-CBC/PKCS#7 ciphertext of ``plain_size`` plaintext bytes."""
    if plain_size < 0:
        raise ValueError(f"size must not be negative, not {plain_size}")
    return (plain_size // BLOCK + 1) * BLOCK


@dataclass(frozen=True, repr=False)
class CbcKey:
    """One upload's AES-256 key and CBC IV; never logged (``repr`` hides them)."""

    key: bytes
    iv: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES or len(self.iv) != BLOCK:
            raise ValueError("AES-256-CBC needs a 32-byte key and a 16-byte IV")

    def __repr__(self) -> str:
        return "CbcKey(<redacted>)"

    @classmethod
    def generate(cls) -> CbcKey:
        """A fresh random key and IV (``os.urandom``), one per upload."""
        return cls(os.urandom(KEY_BYTES), os.urandom(BLOCK))

    def to_ref(self) -> dict[str, str]:
        """Entries for ``RemoteRef.data``: base64, as Snapchat's create-media call takes them."""
        return {
            "key": base64.b64encode(self.key).decode(),
            "iv": base64.b64encode(self.iv).decode(),
        }

    @classmethod
    def from_ref(cls, data: Mapping[str, str]) -> CbcKey:
        """Read back what ``to_ref`` wrote (``ValueError`` when missing or malformed)."""
        try:
            key = base64.b64decode(data["key"], validate=True)
            iv = base64.b64decode(data["iv"], validate=True)
        except (KeyError, ValueError) as exc:
            raise ValueError("the saved handle has no valid key and IV") from exc
        return cls(key, iv)

    def _encryptor(self, chain: bytes) -> CipherContext:
        return Cipher(algorithms.AES(self.key), modes.CBC(chain)).encryptor()


def chain_block(path: Path, key: CbcKey, offset: int, identity: FileIdentity | None) -> bytes:
    """The ciphertext block just before ciphertext ``offset`` (the IV at 0). Blocking.

    Encrypts the plaintext ``[0, offset)`` in 1 MiB pieces; run it in a thread.
    """
    if offset % BLOCK:
        raise ValueError(f"offset {offset} is not on a {BLOCK}-byte block boundary")
    encryptor = key._encryptor(key.iv)
    last = key.iv
    fd = os.open(path, os.O_RDONLY)
    try:
        position = 0
        while position < offset:
            piece = os.pread(fd, min(PIECE, offset - position), position)
            check_identity(fd, path, identity)
            if not piece:
                raise OSError(f"{path}: file shrank while encrypting (at byte {position})")
            position += len(piece)
            last = encryptor.update(piece)[-BLOCK:]  # CBC output is whole blocks
    finally:
        os.close(fd)
    return last


class EncryptedSlice:
    """Ciphertext bytes ``[offset, offset + length)`` of a file's AES-256-CBC encryption.

    An async iterable of pieces (at most 1 MiB plus a block), usable as a ``StreamPart``
    source or as ``content=``; each iteration reads and encrypts anew, giving the same
    bytes. ``offset`` and ``length`` are whole blocks and stay within
    ``ciphertext_size(plain_size)``; the slice that reaches the end carries the padding.
    ``chain`` is the ciphertext block before ``offset`` when the caller saved it; without
    it, it is recomputed (``chain_block``). After a complete iteration ``tail`` holds this
    slice's last ciphertext block: the ``chain`` of the slice that follows.
    """

    def __init__(
        self,
        path: Path,
        plain_size: int,
        key: CbcKey,
        offset: int,
        length: int,
        *,
        chain: bytes | None = None,
        identity: FileIdentity | None = None,
    ) -> None:
        total = ciphertext_size(plain_size)
        if offset % BLOCK or length % BLOCK or length <= 0 or offset + length > total:
            raise ValueError(
                f"ciphertext slice {offset}+{length} is not whole {BLOCK}-byte blocks "
                f"within {total} bytes"
            )
        if chain is not None and len(chain) != BLOCK:
            raise ValueError("the chaining block must be 16 bytes")
        self.path, self.plain_size, self.offset, self.length = path, plain_size, offset, length
        self._key, self._chain, self._identity = key, chain, identity
        self.final = offset + length == total
        self.tail: bytes | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _start(self) -> CipherContext:
        chain = self._chain
        if chain is None:
            chain = await asyncio.to_thread(
                chain_block, self.path, self._key, self.offset, self._identity
            )
        return self._key._encryptor(chain)

    async def _stream(self) -> AsyncIterator[bytes]:
        encryptor = await self._start()
        plain_end = min(self.offset + self.length, self.plain_size)
        last = b""
        async for piece in file_slice(
            self.path, self.offset, plain_end - self.offset, self._identity
        ):
            # ~3 ms per MiB of AES-CBC: off the loop (a thread hop costs ~0.1 ms).
            out = await asyncio.to_thread(encryptor.update, piece)
            del piece  # one plaintext piece alive at a time, not two
            if out:  # whole blocks: CBC holds back a partial one
                last = out[-BLOCK:]
                yield out
        out = encryptor.update(pkcs7_tail(self.plain_size) if self.final else b"")
        out += encryptor.finalize()  # raises if the plaintext was not whole blocks
        if out:
            last = out[-BLOCK:]
            yield out
        self.tail = last
