"""Generated sources and output readers for the render tests (real ffmpeg, tiny files)."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any

# A 1920x1080 frame: blue, with a red box in the left quarter and a green one in the right
# quarter (rows 40-65 %: where the corner tiles read), a white box in the middle.
WIDE = (
    "color=c=blue:s=1920x1080:r=24:d={d},"
    "drawbox=x=0:y=432:w=480:h=270:c=red:t=fill,"
    "drawbox=x=1440:y=432:w=480:h=270:c=lime:t=fill,"
    "drawbox=x=720:y=400:w=480:h=280:c=white:t=fill"
)
# A vertical 540x960 frame: left half red, right half green.
TALL = "color=c=red:s=540x960:r=24:d={d},drawbox=x=270:y=0:w=270:h=960:c=lime:t=fill"


def make_source(path: Path, pattern: str, *, seconds: float = 1.0, audio: bool = True) -> Path:
    """Encode a lavfi pattern (plus a 440 Hz tone) into an MP4 source."""
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", pattern.format(d=seconds)]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-shortest"]
    subprocess.run([*cmd, str(path)], check=True, timeout=60)
    return path


def frame_rgb(path: Path, at: float = 0.5) -> bytes:
    """One decoded frame as packed RGB24."""
    cmd = ["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(path), "-frames:v", "1"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    return subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout


def pixel(frame: bytes, x: int, y: int, width: int = 1080) -> tuple[int, int, int]:
    """The (r, g, b) at (x, y)."""
    i = (y * width + x) * 3
    return frame[i], frame[i + 1], frame[i + 2]


def probe(path: Path) -> dict[str, Any]:
    """ffprobe streams + format as JSON."""
    cmd = ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=60).stdout
    data: dict[str, Any] = json.loads(out)
    return data


def top_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order."""
    boxes: list[str] = []
    with path.open("rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            f.seek(size - 8, 1)
    return boxes
