"""One layout + one source -> one ffmpeg command (a single filter graph), built with
ffmpeg-python. Pure: nothing runs here.

Output: MP4, H.264 High yuv420p, constant frame rate (the source's, at most 60), a keyframe at
least every 2 s, AAC stereo 48 kHz when the source has audio, ``+faststart``, and the render's
cache key in the ``comment`` tag (so a finished file says what it was rendered from).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import ffmpeg

from atroposd.render.geometry import Piece, Plan
from atroposd.render.layouts import Background
from atroposd.render.source import SourceInfo

KEYFRAME_SECONDS = 2
AUDIO = {"c:a": "aac", "b:a": "160k", "ac": 2, "ar": 48000}
VAAPI_DEVICE = "/dev/dri/renderD128"
_PLACEHOLDER = "OUTPUT.mp4"


@dataclass(frozen=True)
class Cut:
    """The part of the source to render, in seconds."""

    start: float
    end: float

    @property
    def length(self) -> float:
        """Seconds of output."""
        return self.end - self.start


@dataclass(frozen=True)
class Encoder:
    """The H.264 encoder and its quality settings."""

    name: str = "libx264"  # or h264_nvenc, h264_vaapi
    preset: str = "veryfast"
    crf: int = 20

    def args(self) -> dict[str, Any]:
        """ffmpeg output options for this encoder."""
        if self.name == "h264_nvenc":
            return {"c:v": "h264_nvenc", "preset": "p4", "rc": "vbr", "cq": self.crf + 3}
        if self.name == "h264_vaapi":
            return {"c:v": "h264_vaapi", "qp": self.crf + 3}
        # 8x8dct is a High-profile tool: with it the stream is High at any preset (ultrafast
        # alone would fall back to Constrained Baseline whatever -profile:v says).
        return {"c:v": "libx264", "preset": self.preset, "crf": self.crf, "x264-params": "8x8dct=1"}


def _background(stream: Any, bg: Background, canvas: tuple[int, int]) -> Any:
    """The canvas fill. Blur and dimming run at a quarter of the canvas size (cheap), then
    the result is scaled up: a strong blur loses nothing at that size."""
    cw, ch = canvas
    if bg.kind != "blur":
        color = bg.color if bg.kind == "color" else "#000000"
        small = stream.filter("scale", 2, 2).filter("drawbox", 0, 0, 2, 2, color=color, t="fill")
        return small.filter("scale", cw, ch)
    qw, qh = cw // 4, ch // 4
    b = f"{bg.brightness:.4f}"
    small = stream.filter("scale", qw, qh, force_original_aspect_ratio="increase")
    small = small.filter("crop", qw, qh).filter("format", "yuv420p")
    if bg.sigma > 0:
        small = small.filter("gblur", sigma=bg.sigma / 4)
    # Dimming in YUV = multiplying RGB by b (limited range: black is Y 16, grey chroma 128).
    small = small.filter(
        "lutyuv", y=f"16+(val-16)*{b}", u=f"128+(val-128)*{b}", v=f"128+(val-128)*{b}"
    )
    return small.filter("scale", cw, ch)


def _piece(stream: Any, piece: Piece) -> Any:
    if piece.crop is not None:
        c = piece.crop
        stream = stream.filter("crop", c.width, c.height, c.x, c.y)
    stream = stream.filter("scale", *piece.scale)
    if piece.trim is not None:
        t = piece.trim
        stream = stream.filter("crop", t.width, t.height, t.x, t.y)
    return stream


def video_graph(video: Any, plan: Plan, bg: Background, fps: Fraction) -> Any:
    """The filter graph from the source's video stream to the finished canvas."""
    if not plan.background:
        frame = _piece(video, plan.pieces[0])
    else:
        parts = video.split()
        frame = _background(parts[0], bg, plan.canvas)
        for i, piece in enumerate(plan.pieces, start=1):
            frame = frame.overlay(_piece(parts[i], piece), x=piece.x, y=piece.y)
    return frame.filter("fps", fps=str(fps)).filter("setsar", 1).filter("format", "yuv420p")


def gop(fps: Fraction) -> int:
    """Frames between keyframes so that one comes at least every ``KEYFRAME_SECONDS``."""
    return max(1, math.floor(fps * KEYFRAME_SECONDS))


def ffmpeg_args(
    source: str,
    info: SourceInfo,
    plan: Plan,
    bg: Background,
    *,
    cut: Cut | None = None,
    encoder: Encoder | None = None,
    comment: str = "",
) -> list[str]:
    """The full ffmpeg argument list without the output file (the runner appends it)."""
    fps = info.out_fps
    encoder = encoder or Encoder()
    opts: dict[str, Any] = {"ss": f"{cut.start:.3f}", "t": f"{cut.length:.3f}"} if cut else {}
    src = ffmpeg.input(source, **opts)
    video = video_graph(src.video, plan, bg, fps)
    prefix: list[str] = []
    if encoder.name == "h264_vaapi":
        prefix = ["-vaapi_device", VAAPI_DEVICE]
        video = video.filter("format", "nv12").filter("hwupload")
    out: dict[str, Any] = {
        **encoder.args(),
        "profile:v": "high",
        "g": gop(fps),
        "r": str(fps),
        "fps_mode": "cfr",
        "movflags": "+faststart",
        "f": "mp4",  # whatever the output's name says
        "map_metadata": -1,
    }
    if encoder.name != "h264_vaapi":
        out["pix_fmt"] = "yuv420p"
    if comment:
        out["metadata"] = f"comment={comment}"
    streams = [video]
    if info.has_audio:
        # Silence padded from 0 when the audio starts late (a recorder that starts the sound
        # after the picture): the short's sound then starts with its picture on every player.
        streams.append(src["a:0"].filter("aresample", **{"async": 1, "first_pts": 0}))
        out.update(AUDIO)
    args: list[str] = ffmpeg.output(*streams, _PLACEHOLDER, **out).get_args()
    assert args[-1] == _PLACEHOLDER
    return prefix + args[:-1]
