"""Real fragmented MP4 files for the watcher tests, and the box edits the tests need.

The files come from the ffmpeg the daemon's demo uses (system ffmpeg, else imageio-ffmpeg).
ffmpeg writes no ``mehd`` box, so ``with_mehd`` adds one the way GPAC/Bento4 do: inside
``mvex``, with the movie's full duration. With ``default_base_moof`` every fragment's data
offsets are relative to its own ``moof``, so growing the ``moov`` keeps the file playable; the
``mfra`` index (absolute offsets) is dropped first.
"""

from __future__ import annotations

import struct
import subprocess
import threading
from pathlib import Path
from typing import BinaryIO

from atroposd import demo

FRAG_FLAGS = "frag_keyframe+empty_moov+default_base_moof"
SECONDS = 4
FRAGMENTS = 4  # one keyframe per second (-g 15 at 15 fps)
PIECE = 64 * 1024


def make_fragmented(out: Path) -> bytes:
    """A 4 s H.264/AAC fragmented MP4 with one moof/mdat pair per second, and its mfra."""
    cmd = [demo.ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", "testsrc2=size=180x320:rate=15,noise=alls=40:allf=t"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440", "-t", str(SECONDS), "-shortest"]
    cmd += ["-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15"]
    cmd += ["-b:v", "1M", "-c:a", "aac", "-movflags", FRAG_FLAGS, str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out.read_bytes()


def top_boxes(data: bytes) -> list[tuple[str, int, int]]:
    """(type, offset, size) of every top-level box."""
    out: list[tuple[str, int, int]] = []
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        out.append((kind.decode("latin-1"), pos, size))
        pos += size
    return out


def fragment_ends(data: bytes) -> list[int]:
    """The offset just after each moof/mdat pair: where a copy can stop with every box whole."""
    ends: list[int] = []
    after_moof = False
    for kind, pos, size in top_boxes(data):
        if kind == "moof":
            after_moof = True
        elif kind == "mdat" and after_moof:
            ends.append(pos + size)
            after_moof = False
    return ends


def without_mfra(data: bytes) -> bytes:
    """The file without its trailing mfra index (as a writer that writes none leaves it)."""
    kind, pos, _ = top_boxes(data)[-1]
    assert kind == "mfra", kind
    return data[:pos]


def movie_timescale(data: bytes) -> int:
    """The mvhd timescale (ffmpeg: 1000)."""
    moov = _moov(data)
    at = data.index(b"mvhd", moov[0], moov[0] + moov[1]) + 4
    at += 20 if data[at] else 12  # version 1: 64-bit times before the timescale
    return int(struct.unpack(">I", data[at : at + 4])[0])


def with_mehd(data: bytes, seconds: float) -> bytes:
    """``data`` (without mfra) with a version-1 mehd declaring ``seconds`` inside mvex."""
    moov_pos, moov_size = _moov(data)
    mvex = data.index(b"mvex", moov_pos, moov_pos + moov_size) - 4
    duration = round(seconds * movie_timescale(data))
    mehd = struct.pack(">I4sB3sQ", 20, b"mehd", 1, b"\x00\x00\x00", duration)
    out = bytearray(data[: mvex + 8] + mehd + data[mvex + 8 :])
    for at in (moov_pos, mvex):
        (old,) = struct.unpack(">I", out[at : at + 4])
        out[at : at + 4] = struct.pack(">I", old + len(mehd))
    return bytes(out)


def _moov(data: bytes) -> tuple[int, int]:
    for kind, pos, size in top_boxes(data):
        if kind == "moov":
            return pos, size
    raise AssertionError("no moov box")


class PausingWriter:
    """Writes ``data`` in pieces, stops after ``cut`` bytes with the file open, resumes on cue."""

    def __init__(self, path: Path, data: bytes, cut: int) -> None:
        self.path, self.data, self.cut = path, data, cut
        self.paused = threading.Event()
        self.resume = threading.Event()

    def run(self) -> None:
        with self.path.open("wb") as f:
            self._write(f, 0, self.cut)
            self.paused.set()
            if not self.resume.wait(120):
                raise AssertionError("never told to resume")
            self._write(f, self.cut, len(self.data))

    def _write(self, f: BinaryIO, start: int, end: int) -> None:
        for at in range(start, end, PIECE):
            f.write(self.data[at : min(at + PIECE, end)])
            f.flush()


class HeldWrite:
    """Writes ``data`` (``mode`` "wb" to start a file, "ab" to append to it) and keeps the file
    open until ``release`` is set, then closes it: the test can wait until the watcher has seen
    the write, and then the close, with no race between them."""

    def __init__(self, path: Path, data: bytes, mode: str) -> None:
        self.path, self.data, self.mode = path, data, mode
        self.release = threading.Event()

    def run(self) -> None:
        with self.path.open(self.mode) as f:
            for at in range(0, len(self.data), PIECE):
                f.write(self.data[at : at + PIECE])
                f.flush()
            if not self.release.wait(120):
                raise AssertionError("never told to close")
