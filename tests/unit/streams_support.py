"""Test files for the streaming-body tests: deterministic noise with every line-ending
pattern a multipart parser could trip on, and ways to read them back."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from atroposd.providers.chunks import MIB


def write_random(path: Path, size: int, seed: int = 0) -> Path:
    """``size`` bytes of seeded noise, each MiB starting with every line-ending pattern a
    multipart parser could trip on (CRLF, bare CR/LF, ``--`` after a line end)."""
    pattern = b"\r\n--\r\n\r\n--x\r\r\n\n" * 64
    rng = random.Random(seed)
    with path.open("wb") as f:
        written = 0
        while written < size:
            piece = pattern + rng.randbytes(MIB - len(pattern))
            f.write(piece[: size - written])
            written += min(len(piece), size - written)
    return path


def slice_of(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(length)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(MIB):
            digest.update(piece)
    return digest.hexdigest()
