"""Is an MP4/MOV file complete? A walk over its top-level ISO-BMFF boxes.

A file is complete when its top-level boxes tile it exactly (no box claims bytes past the end,
no trailing partial header), a ``moov`` box is present, and there is media data (an ``mdat``
box, or ``moof`` fragments). This catches a truncated copy whatever the layout: with the
``moov`` at the end it is missing, with ``+faststart`` the ``mdat`` claims more bytes than the
file holds (ffprobe accepts the latter, see perf-reliability §2.3).

Only box headers are read (8 or 16 bytes each, then a seek), so memory is constant and a
typical clip costs a few tens of microseconds. A fragmented file cut exactly at a fragment
boundary still tiles: ``fragments.py`` then asks the file itself (``mfra``, ``mehd``), and
when nothing in it proves the end the result is ``open_ended``: the watcher judges such a
file by the writer's close-after-write, or by a longer quiet period.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from atroposd.watch.fragments import Box, fragment_end

# Box types a real MP4/QuickTime file may start with; anything else is not a movie file.
_FIRST_BOX_TYPES = frozenset(
    {"ftyp", "styp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "junk", "pdin", "sidx"}
)
_MEDIA_BOX_TYPES = frozenset({"mdat", "moof"})


@dataclass(frozen=True)
class Mp4Check:
    """A reason the file is not complete, or None; ``open_ended``: fragmented, and nothing in
    the file (``mfra``, ``mehd``) proves that no more fragments are coming."""

    problem: str | None = None
    open_ended: bool = False


def mp4_problem(path: Path) -> str | None:
    """None when ``path`` is a complete MP4/MOV/M4V file, else a short reason.

    Raises ``OSError`` when the file cannot be opened or read (gone, no permission): that is
    the caller's to judge, not a property of the file's content.
    """
    return mp4_check(path).problem


def mp4_check(path: Path) -> Mp4Check:
    """``mp4_problem`` plus whether a fragmented file proves its own end. Raises ``OSError``."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return Mp4Check("empty file")
        boxes: list[Box] = []
        problem = _walk(f, size, boxes)
        if problem is not None or not any(b[0] == "moof" for b in boxes):
            return Mp4Check(problem)
        end = fragment_end(f, boxes)
        if end.short is not None:
            return Mp4Check(f"truncated: {end.short}")
        return Mp4Check(None, open_ended=not end.proven)


def _walk(f: BinaryIO, size: int, boxes: list[Box]) -> str | None:
    """Check the top-level boxes tile the file; each one is appended to ``boxes``."""
    seen: set[str] = set()
    pos = 0
    while pos < size:
        header = _read_at(f, pos, 8)
        if len(header) < 8:
            return f"truncated: {size - pos} trailing bytes after the last box"
        claimed, kind_raw = struct.unpack(">I4s", header)
        kind = kind_raw.decode("latin-1")
        if not _printable(kind_raw) or (pos == 0 and kind not in _FIRST_BOX_TYPES):
            if pos == 0:
                return "not an MP4/QuickTime file"
            return f"corrupt: unreadable box header at offset {pos}"
        header_len = 8
        if claimed == 1:
            large = _read_at(f, pos + 8, 8)
            if len(large) < 8:
                return f"truncated: box '{kind}' header cut at offset {pos}"
            (claimed,) = struct.unpack(">Q", large)
            header_len = 16
        elif claimed == 0:
            claimed = size - pos  # the box runs to the end of the file
        if claimed < header_len:
            return f"corrupt: box '{kind}' at offset {pos} has invalid size {claimed}"
        if pos + claimed > size:
            return f"truncated: box '{kind}' claims {claimed} bytes, only {size - pos} remain"
        seen.add(kind)
        boxes.append((kind, pos, claimed))
        pos += claimed
    if "moov" not in seen:
        return "no moov box"
    if not seen & _MEDIA_BOX_TYPES:
        return "no media data (no mdat box)"
    return None


def _read_at(f: BinaryIO, pos: int, n: int) -> bytes:
    f.seek(pos)
    return f.read(n)


def _printable(raw: bytes) -> bool:
    # Box types are four printable Latin-1 characters ('©' appears in QuickTime metadata).
    return all(0x20 <= b <= 0x7E or b == 0xA9 for b in raw)
