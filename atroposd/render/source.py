"""What the renderer needs to know about a source video, from ffprobe (layer 1)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from atroposd.render.errors import RenderFailed
from atroposd.render.runner import child_env

MAX_FPS = Fraction(60)
DEFAULT_FPS = Fraction(30)  # when the source does not say (the original's OUTPUT_FPS)


@dataclass(frozen=True)
class SourceInfo:
    """Display size (rotation and sample aspect applied), rate, length, audio, cache tag."""

    width: int
    height: int
    fps: Fraction
    duration: float
    has_audio: bool
    comment: str = ""  # the ``comment`` tag: our renders carry their cache key there

    @property
    def aspect(self) -> float:
        """Width over height as displayed."""
        return self.width / self.height

    @property
    def out_fps(self) -> Fraction:
        """The constant output rate: the source's, at most 60."""
        return min(self.fps, MAX_FPS)


def _rate(stream: dict[str, Any]) -> Fraction:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key, "0/0")).partition("/")
        if num.isdigit() and den.isdigit() and int(den) and int(num):
            return Fraction(int(num), int(den))
    return DEFAULT_FPS


def _rotation(stream: dict[str, Any]) -> int:
    rotate = stream.get("tags", {}).get("rotate")
    for side in stream.get("side_data_list", ()):
        if "rotation" in side:
            rotate = side["rotation"]
    try:
        return int(float(rotate or 0)) % 360
    except ValueError:
        return 0


def parse_probe(data: dict[str, Any], path: Path) -> SourceInfo:
    """``ffprobe -show_streams -show_format`` JSON -> ``SourceInfo``."""
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or not video.get("width"):
        raise RenderFailed(f"{path}: no video stream", returncode=None, stderr=())
    width, height = int(video["width"]), int(video["height"])
    num, _, den = str(video.get("sample_aspect_ratio", "1:1")).partition(":")
    if num.isdigit() and den.isdigit() and int(num) and int(den) and num != den:
        width = round(width * int(num) / int(den))
    if _rotation(video) in (90, 270):
        width, height = height, width
    fmt = data.get("format", {})
    duration = float(fmt.get("duration") or video.get("duration") or 0.0)
    return SourceInfo(
        width=width,
        height=height,
        fps=_rate(video),
        duration=duration,
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        comment=str(fmt.get("tags", {}).get("comment", "")),
    )


def probe_source_sync(path: Path, ffprobe: str = "ffprobe") -> SourceInfo:
    """Run ffprobe on ``path`` (blocking)."""
    command = [ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)]
    try:
        done = subprocess.run(
            command, capture_output=True, env=child_env(), timeout=120, check=False
        )
    except FileNotFoundError:
        msg = f"{ffprobe} not found (install ffmpeg)"
        raise RenderFailed(msg, returncode=None, stderr=()) from None
    except subprocess.TimeoutExpired:
        raise RenderFailed(f"{path}: ffprobe timed out", returncode=None, stderr=()) from None
    if done.returncode != 0:
        lines = tuple(done.stderr.decode("utf-8", "replace").splitlines()[-5:])
        raise RenderFailed(f"{path}: ffprobe failed", returncode=done.returncode, stderr=lines)
    return parse_probe(json.loads(done.stdout or b"{}"), path)


async def probe_source(path: Path, ffprobe: str = "ffprobe") -> SourceInfo:
    """``probe_source_sync`` off the event loop."""
    return await asyncio.to_thread(probe_source_sync, path, ffprobe)
