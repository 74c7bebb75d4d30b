"""Chunk plans: how each platform wants a file cut into upload requests, declared as data.

``UPLOAD_CHUNK_BYTES`` is a preference; a ``ChunkPlan`` turns it into sizes the platform
accepts (clamped to the plan's bounds, rounded to its multiple, grown when the file would
need more requests than the platform allows). Everything here is pure: a plan and a file
size give the exact list of ``(offset, length)`` chunks, so a resumed upload cuts the file
exactly as the first attempt did.

Two shapes exist (../shared/providers.md):

- *rest-last* (YouTube, X, Snapchat): every chunk is ``chunk_size`` bytes, the last one
  holds what is left (``ceil(size / chunk_size)`` chunks).
- *last absorbs the remainder* (TikTok): ``floor(size / chunk_size)`` chunks, the remainder
  merged into the last one, which can grow to just under ``2 * chunk_size``; a file smaller
  than one chunk is sent whole with ``chunk_size == size``.

The four plans below cite their sources; the numbers were checked against the platforms'
own pages where the stored copies had them (see docs/adr/0003-chunk-plans-and-streams.md).
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    """One upload request's byte range: ``index`` (0-based), ``offset`` and ``length``."""

    index: int
    offset: int
    length: int

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.offset + self.length


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class ChunkPlan:
    """A platform's chunking rules; see the module docstring for the two shapes.

    ``min_bytes``/``max_bytes`` bound every chunk but the last (``max_bytes=None``: no
    bound), ``multiple`` divides every chunk but the last, ``max_count`` caps the number
    of chunks (``None``: no cap).
    """

    min_bytes: int = 1
    max_bytes: int | None = None
    multiple: int = 1
    last_absorbs_remainder: bool = False
    max_count: int | None = None

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.min_bytes < 1:
            raise ValueError("a chunk plan needs multiple >= 1 and min_bytes >= 1")
        if self.max_bytes is not None:
            if self.max_bytes % self.multiple:
                raise ValueError("max_bytes must be a multiple of the plan's multiple")
            if self._round_up(self.min_bytes) > self.max_bytes:
                raise ValueError("no chunk size fits between min_bytes and max_bytes")
        if self.max_count is not None and self.max_count < 1:
            raise ValueError("max_count must be at least 1")

    def _round_up(self, n: int) -> int:
        return _ceil_div(n, self.multiple) * self.multiple

    def fit(self, preferred: int) -> int:
        """``preferred`` clamped to the plan's bounds and rounded down to its multiple."""
        if preferred < 1:
            raise ValueError(f"preferred chunk size must be positive, not {preferred}")
        size = preferred if self.max_bytes is None else min(preferred, self.max_bytes)
        size -= size % self.multiple
        return max(size, self._round_up(self.min_bytes))

    def largest_file(self) -> int | None:
        """The largest file the plan can cut within ``max_count`` (None: unbounded)."""
        if self.max_count is None or self.max_bytes is None:
            return None
        if self.last_absorbs_remainder:
            return (self.max_count + 1) * self.max_bytes - 1
        return self.max_count * self.max_bytes

    def chunk_size(self, size: int, preferred: int) -> int:
        """The size of every chunk but the last for a file of ``size`` bytes.

        For a last-absorbs plan this is the value the platform is told (TikTok's
        ``chunk_size``): never more than ``size``, so there is always at least one chunk.
        Raises ``ValueError`` when the file needs more chunks than ``max_count`` allows.
        """
        if size < 0:
            raise ValueError(f"file size must not be negative, not {size}")
        chunk = self.fit(preferred)
        if self.last_absorbs_remainder:
            if size < chunk:
                return size  # sent whole (TikTok: files under one chunk, e.g. < 5 MB)
            if self.max_count is not None and size // chunk > self.max_count:
                # floor(size / chunk) <= max_count  <=>  chunk > size / (max_count + 1)
                chunk = self._round_up(size // (self.max_count + 1) + 1)
        elif self.max_count is not None and _ceil_div(size, chunk) > self.max_count:
            chunk = self._round_up(_ceil_div(size, self.max_count))
        if self.max_bytes is not None and chunk > self.max_bytes:
            raise ValueError(
                f"a file of {size} bytes needs more than {self.max_count} chunks of at most "
                f"{self.max_bytes} bytes"
            )
        return chunk

    def count(self, size: int, chunk_size: int) -> int:
        """How many chunks a file of ``size`` bytes cut at ``chunk_size`` makes."""
        if size == 0:
            return 0
        if self.last_absorbs_remainder:
            return max(1, size // chunk_size)
        return _ceil_div(size, chunk_size)

    def next_chunk(self, size: int, chunk_size: int, offset: int) -> Chunk:
        """What to send when the platform holds the first ``offset`` bytes.

        Rest-last plans continue exactly at ``offset`` (YouTube may store fewer bytes than
        sent; its ``Range`` is the truth). A last-absorbs plan's chunks are fixed, so the
        chunk containing ``offset`` is sent again from its start (TikTok, providers.md §5.6).
        """
        if not 0 <= offset < size:
            raise ValueError(f"offset {offset} is outside a file of {size} bytes")
        if not self.last_absorbs_remainder:
            return Chunk(offset // chunk_size, offset, min(chunk_size, size - offset))
        index = min(offset // chunk_size, self.count(size, chunk_size) - 1)
        start = index * chunk_size
        last = index == self.count(size, chunk_size) - 1
        return Chunk(index, start, size - start if last else chunk_size)

    def split(self, size: int, preferred: int) -> tuple[Chunk, ...]:
        """Every chunk of a file of ``size`` bytes, in order; empty for an empty file."""
        chunk_size = self.chunk_size(size, preferred)
        chunks: list[Chunk] = []
        offset = 0
        while offset < size:
            chunks.append(self.next_chunk(size, chunk_size, offset))
            offset = chunks[-1].end
        return tuple(chunks)


# YouTube (providers.md §1.2): every chunk but the last a multiple of 256 KiB; no documented
# maximum or count (a file is at most 256 GB). The server may store fewer bytes than sent.
YOUTUBE_PLAN = ChunkPlan(min_bytes=256 * 1024, multiple=256 * 1024)

# TikTok (providers.md §5.2; developers.tiktok.com media transfer guide, "Chunk
# restrictions"): chunks of 5 MB..64 MB, total_chunk_count = floor(video_size / chunk_size)
# with the trailing bytes merged into the last chunk (up to 128 MB), files under 5 MB in
# one chunk with chunk_size == video_size, 1..1000 chunks. "MB" is not defined there, so the
# bounds are read the strict way both ways: at least 5 MiB, at most 64 * 10**6 bytes (the
# last chunk then stays under 128 * 10**6).
TIKTOK_PLAN = ChunkPlan(
    min_bytes=5 * MIB, max_bytes=64 * 10**6, last_absorbs_remainder=True, max_count=1000
)

# X (providers.md §7.2): APPEND ``segment_index`` 0..999 (openapi: 0 <= x <= 999); the media
# part "must be <= 5 MB" (v1.1 APPEND reference; v2 gives no number). Clients sending 5 MiB
# segments got 413 from X's edge (trypost PR #31), so segments stay at 4 MiB, under 5 MB
# with the multipart envelope around them; X's own samples use 1 MiB.
X_PLAN = ChunkPlan(min_bytes=1, max_bytes=4 * MIB, max_count=1000)

# Snapchat (providers.md §6.2): the *encrypted* file is split into parts of at most 32 MB
# (Snap's sample: ``split -b 32m``, i.e. 32 MiB), at most 35 parts [3P]. Parts are whole
# AES blocks (16 bytes) so each one can be encrypted on its own from the previous part's
# last ciphertext block (providers/encryption.py).
SNAPCHAT_PLAN = ChunkPlan(min_bytes=16, max_bytes=32 * MIB, multiple=16, max_count=35)
