"""Media the media-check tests need, made with real ffmpeg (small and short: the suite's CPU)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from atroposd.pipeline.media import capabilities_by_platform
from atroposd.providers.base import Capabilities

SINE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)


def hevc_10bit_4k(path: Path) -> Path:
    """A 3840x2160 HEVC Main 10 (yuv420p10le) clip with AAC stereo: 1 s, 5 frames, ~130 KB."""
    video = ["-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=5"]
    x265 = ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"]
    pix = ["-pix_fmt", "yuv420p10le", "-b:v", "50k", "-tag:v", "hvc1"]
    _ffmpeg(*video, *SINE, "-t", "1", *x265, *pix, "-c:a", "aac", "-ac", "2", str(path))
    return path


def long_clip(path: Path, seconds: float = 61.0) -> Path:
    """A tiny H.264/AAC faststart MP4 longer than Snapchat's 60 s (and no other limit)."""
    video = ["-f", "lavfi", "-i", "testsrc2=size=64x114:rate=5"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "20k", "-pix_fmt", "yuv420p"]
    audio = ["-c:a", "aac", "-b:a", "16k", "-ac", "1"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"]
    _ffmpeg(*video, *tone, "-t", str(seconds), *x264, *audio, "-movflags", "+faststart", str(path))
    return path


def corrupt(path: Path) -> Path:
    """Bytes that start like an MP4 (an ftyp box) and hold no playable movie."""
    path.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x5a" * 4000)
    return path


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def broken_movie(path: Path) -> Path:
    """Complete top-level boxes (the watcher's check passes) around a movie header of zeros:
    ffprobe reads it, complains, and finds no stream."""
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
    moov = _box(b"moov", _box(b"mvhd", bytes(100)) + _box(b"trak", _box(b"tkhd", bytes(84))))
    path.write_bytes(ftyp + moov + _box(b"mdat", b"\x5a" * 2000))
    return path


def caps() -> dict[str, Capabilities]:
    """Each platform's declared capabilities (the provider classes' own)."""
    return capabilities_by_platform()
