"""Does a fragmented MP4 prove its own end? Its ``mfra`` index, else its ``mehd`` duration.

A fragmented file (``moov`` then ``moof``/``mdat`` pairs) cut exactly after a pair still tiles,
so the top-level walk cannot tell it from a finished one. Two things inside the file can:

* a trailing ``mfra`` box: the random-access index a writer (ffmpeg among them) appends when it
  closes the file. Present and last → finished;
* a ``mehd`` box (``moov/mvex/mehd``): the full duration of the movie, fragments included,
  written by packagers that know it (GPAC, Bento4). The fragments' sample durations are added
  up per track (``tfdt`` + ``trun``, defaults from ``tfhd``/``trex``) and compared with it.

Neither present → ``OPEN``: only time, or the writer's close-after-write, can tell.
Only box headers, the ``moov`` and the ``moof`` boxes are read (no media data), and the moofs
only when there is a ``mehd`` to compare with.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# A complete file may fall short of its mehd by rounding, and by edit-list delays (encoder
# priming, B-frame reordering); a cut at a fragment boundary drops a whole fragment (~1 s+).
MEHD_TOLERANCE_SECONDS = 0.5
_MAX_BOX_READ = 64 * 1024 * 1024  # a moov or moof larger than this is not parsed
Box = tuple[str, int, int]  # (type, offset, size) of a top-level box


@dataclass(frozen=True)
class FragmentEnd:
    """What the file says about its own end: ``proven``, ``short`` (with why) or neither."""

    proven: bool
    short: str | None = None


OPEN = FragmentEnd(proven=False)
PROVEN = FragmentEnd(proven=True)


@dataclass
class _Movie:
    timescale: int = 0
    declared: int | None = None  # mehd, in the movie timescale
    track_scale: dict[int, int] | None = None
    default_duration: dict[int, int] | None = None


def fragment_end(f: BinaryIO, boxes: list[Box]) -> FragmentEnd:
    """Judge a fragmented file whose top-level ``boxes`` tile it."""
    if boxes[-1][0] == "mfra":
        return PROVEN
    moov = next((b for b in boxes if b[0] == "moov"), None)
    if moov is None or moov[2] > _MAX_BOX_READ:
        return OPEN
    try:
        movie = _read_moov(_payload(f, moov))
        if movie.declared is None or not movie.timescale:
            return OPEN
        covered = _covered_seconds(f, boxes, movie)
    except (ValueError, IndexError, struct.error):
        return OPEN  # a box we cannot parse proves nothing either way
    if covered is None:
        return OPEN
    declared = movie.declared / movie.timescale
    if covered + MEHD_TOLERANCE_SECONDS < declared:
        return FragmentEnd(
            proven=False,
            short=f"the fragments cover {covered:.1f} s of the {declared:.1f} s its mehd declares",
        )
    return PROVEN


def _payload(f: BinaryIO, box: Box) -> bytes:
    _, pos, size = box
    f.seek(pos)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("short read")
    header = 16 if struct.unpack(">I", data[:4])[0] == 1 else 8
    return data[header:]


def _children(buf: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[str, bytes]]:
    """(type, payload) of the boxes in ``buf[start:end]``."""
    pos, stop = start, len(buf) if end is None else end
    while pos + 8 <= stop:
        size, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", buf[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = stop - pos
        if size < header or pos + size > stop:
            raise ValueError("bad box")
        yield kind.decode("latin-1"), buf[pos + header : pos + size]
        pos += size


def _versioned(payload: bytes, v0: str, v1: str, at0: int, at1: int) -> int:
    """A field whose width and offset depend on the full box's version byte."""
    if payload[0] == 1:
        return int(struct.unpack_from(v1, payload, at1)[0])
    return int(struct.unpack_from(v0, payload, at0)[0])


def _read_moov(moov: bytes) -> _Movie:
    movie = _Movie(track_scale={}, default_duration={})
    assert movie.track_scale is not None and movie.default_duration is not None
    for kind, body in _children(moov):
        if kind == "mvhd":
            movie.timescale = _versioned(body, ">I", ">I", 12, 20)
        elif kind == "trak":
            track_id, scale = _track(body)
            if track_id is not None and scale:
                movie.track_scale[track_id] = scale
        elif kind == "mvex":
            for sub, sbody in _children(body):
                if sub == "mehd":
                    movie.declared = _versioned(sbody, ">I", ">Q", 4, 4)
                elif sub == "trex":
                    track_id, _, duration = struct.unpack_from(">III", sbody, 4)
                    movie.default_duration[track_id] = duration
    return movie


def _track(trak: bytes) -> tuple[int | None, int]:
    track_id: int | None = None
    scale = 0
    for kind, body in _children(trak):
        if kind == "tkhd":
            track_id = _versioned(body, ">I", ">I", 12, 20)
        elif kind == "mdia":
            for sub, sbody in _children(body):
                if sub == "mdhd":
                    scale = _versioned(sbody, ">I", ">I", 12, 20)
    return track_id, scale


def _covered_seconds(f: BinaryIO, boxes: list[Box], movie: _Movie) -> float | None:
    """The end of the longest track, in seconds, from every fragment's sample durations."""
    ends: dict[int, int] = {}
    for box in boxes:
        if box[0] != "moof":
            continue
        if box[2] > _MAX_BOX_READ:
            return None
        for kind, body in _children(_payload(f, box)):
            if kind == "traf":
                _add_traf(body, movie, ends)
    scales = movie.track_scale or {}
    seconds = [end / scales[t] for t, end in ends.items() if scales.get(t)]
    return max(seconds) if seconds else None


def _add_traf(traf: bytes, movie: _Movie, ends: dict[int, int]) -> None:
    track_id: int | None = None
    default = 0
    base: int | None = None
    total = 0
    for kind, body in _children(traf):
        if kind == "tfhd":
            track_id, default = _tfhd(body, movie)
        elif kind == "tfdt":
            base = _versioned(body, ">I", ">Q", 4, 4)
        elif kind == "trun":
            total += _trun_duration(body, default)
    if track_id is None:
        raise ValueError("traf without tfhd")
    start = base if base is not None else ends.get(track_id, 0)
    ends[track_id] = max(ends.get(track_id, 0), start + total)


def _tfhd(body: bytes, movie: _Movie) -> tuple[int, int]:
    flags = int.from_bytes(body[1:4], "big")
    (track_id,) = struct.unpack_from(">I", body, 4)
    at = 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
    if flags & 0x08:
        return track_id, int(struct.unpack_from(">I", body, at)[0])
    return track_id, (movie.default_duration or {}).get(track_id, 0)


def _trun_duration(body: bytes, default: int) -> int:
    flags = int.from_bytes(body[1:4], "big")
    (count,) = struct.unpack_from(">I", body, 4)
    if not flags & 0x100:
        return int(count) * default
    at = 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
    stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    if at + stride * count > len(body):
        raise ValueError("trun shorter than its sample count")
    return sum(struct.unpack_from(">I", body, at + i * stride)[0] for i in range(count))
