"""Where a library clip's video is now, and its duration from its ``moov/mvhd`` box (a few
small reads, no ffprobe).

The desktop client drops a library clip without a numeric ``duration_seconds``; the ledger has
no duration, so the page reads it from each file (a handful of seeks per clip, in the worker
thread of the page). A published clip's files were moved to ``ARCHIVE_DIR`` under the same
relative path, so that is looked at when the ledger's path is gone. A file found nowhere, or
not an MP4 this reader understands, has no duration (``None``).
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO

MAX_BOXES = 64  # top-level or moov boxes looked at before giving up


def _boxes(f: BinaryIO, start: int, end: int) -> dict[str, tuple[int, int]]:
    """The boxes between ``start`` and ``end``: kind → (payload offset, payload size)."""
    found: dict[str, tuple[int, int]] = {}
    pos = start
    for _ in range(MAX_BOXES):
        if pos + 8 > end:
            break
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack(">I4s", head[:8])
        body = 8
        if size == 1 and len(head) == 16:
            size, body = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:
            size = end - pos
        if size < body:
            break
        found.setdefault(kind.decode("latin-1"), (pos + body, size - body))
        pos += size
    return found


def duration_seconds(path: str | Path) -> float | None:
    """The movie's duration in seconds, or None when it cannot be read."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO's open() would block
            return None
        with open(path, "rb") as f:
            f.seek(0, 2)
            moov = _boxes(f, 0, f.tell()).get("moov")
            if moov is None:
                return None
            mvhd = _boxes(f, moov[0], moov[0] + moov[1]).get("mvhd")
            if mvhd is None:
                return None
            f.seek(mvhd[0])
            raw = f.read(32)
            if raw[:1] == b"\x01" and len(raw) >= 32:
                scale, length = struct.unpack(">IQ", raw[20:32])
            elif len(raw) >= 20:
                scale, length = struct.unpack(">II", raw[12:20])
            else:
                return None
    except (OSError, struct.error):
        return None
    return round(length / scale, 3) if scale else None


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def find_video(video_path: str, clip_rel: str, archive_dir: Path) -> Path:
    """The video where it is now: the ledger's path, else its place in ``ARCHIVE_DIR``
    (the ledger's path when neither holds it)."""
    here = Path(video_path)
    if _regular(here):
        return here
    rel = Path(clip_rel)
    safe = bool(clip_rel) and not rel.is_absolute() and ".." not in rel.parts
    if safe and _regular(archive_dir / rel):
        return archive_dir / rel
    return here


def locate(video_path: str, clip_rel: str, archive_dir: Path) -> tuple[Path, float | None]:
    """``find_video`` and the duration of what it found."""
    found = find_video(video_path, clip_rel, archive_dir)
    return found, duration_seconds(found)
