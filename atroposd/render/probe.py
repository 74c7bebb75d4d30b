"""What a video file is, as ffprobe sees it (layer 1): a typed ``MediaInfo``.

``probe_file`` runs ``ffprobe -print_format json -show_format -show_streams`` (blocking; the
async ``Prober`` runs it in a worker thread and caches the answers by the caller's key: the
clip's SHA-256, or its path + ``FileIdentity``). A file ffprobe cannot read, or one without a
video stream, raises ``MediaUnreadable`` carrying ffprobe's own reason. The child gets the
runner's allow-listed environment (no secret reaches it).
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import struct
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

from atroposd.errors import InputError
from atroposd.render.runner import child_env

PROBE_TIMEOUT = 60.0
CACHE_ENTRIES = 4096
log = structlog.get_logger("atroposd")
_PREFIX = re.compile(r"^\[[^]]* @ 0x[0-9a-f]+\]\s*")
_TOP_BOXES = 64  # a faststart answer needs only the first few top-level boxes


class MediaUnreadable(InputError):
    """ffprobe cannot read the file as a video; ``reason`` is ffprobe's own words."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: not a readable video: {reason}")
        self.path = path
        self.reason = reason


class ToolMissing(OSError):
    """ffprobe is not installed (not on PATH): the clip is not at fault."""

    def __init__(self, tool: str) -> None:
        super().__init__(
            errno.ENOENT,
            f"{tool} not found on PATH: install ffmpeg (Debian/Ubuntu: sudo apt install ffmpeg); "
            "`atroposd doctor` checks it",
        )
        self.tool = tool


@dataclass(frozen=True)
class MediaInfo:
    """The facts the platforms' limits are about; width/height as coded (see ``display``)."""

    container: str  # mp4, mov, webm, matroska, ... (mp4 vs mov by the ftyp brand)
    video_codec: str  # ffprobe's name: h264, hevc, vp9, av1, ...
    profile: str | None  # High, Main 10, ...
    pix_fmt: str  # yuv420p, yuv420p10le, ...
    bit_depth: int
    chroma: str  # 420, 422, 444 (or the pix_fmt when it names no subsampling)
    width: int
    height: int
    rotation: int  # degrees the player turns the picture (display matrix), 0/90/180/270
    fps: float
    duration_s: float
    size: int
    bit_rate: int | None
    audio_codec: str | None  # None: no audio stream
    audio_channels: int | None
    audio_rate: int | None
    faststart: bool | None  # moov before mdat (MP4/MOV only; None: not an ISO-BMFF file)
    audio_profile: str | None = None  # LC, HE-AAC, ... (None: unknown or no audio)
    video_bit_rate: int | None = None  # the video stream's (None: not stated)

    @property
    def display(self) -> tuple[int, int]:
        """(width, height) as the picture is shown, rotation applied."""
        if self.rotation % 180 == 90:
            return self.height, self.width
        return self.width, self.height

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able facts (``atroposd probe --json``)."""
        out = asdict(self)
        out["display_width"], out["display_height"] = self.display
        return out


def _fps(stream: dict[str, Any]) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key, "0/0")).partition("/")
        try:
            value = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if value > 0:
            return round(value, 3)
    return 0.0


def _depth_and_chroma(stream: dict[str, Any]) -> tuple[int, str]:
    pix = str(stream.get("pix_fmt") or "")
    raw = stream.get("bits_per_raw_sample")
    depth = int(raw) if isinstance(raw, str) and raw.isdigit() else 0
    if not depth:
        depth = next((d for d in (16, 14, 12, 10, 9) if f"p{d}" in pix), 8)
    chroma = next((c for c in ("420", "422", "444", "440", "411") if c in pix), "")
    if not chroma and pix in ("nv12", "nv21"):
        chroma = "420"
    return depth, chroma or pix


def _rotation(stream: dict[str, Any]) -> int:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return round(-float(side["rotation"])) % 360
    rotate = (stream.get("tags") or {}).get("rotate")
    return int(rotate) % 360 if isinstance(rotate, str) and rotate.lstrip("-").isdigit() else 0


def _container(fmt: dict[str, Any]) -> str:
    names = str(fmt.get("format_name") or "").split(",")
    if "mp4" in names or "mov" in names:
        brand = str((fmt.get("tags") or {}).get("major_brand") or "").strip()
        return "mov" if brand == "qt" else "mp4"
    if "webm" in names and "matroska" in names:
        return "webm"
    return names[0] or "unknown"


def faststart_of(path: Path) -> bool | None:
    """True when the ``moov`` box comes before ``mdat`` (None: no MP4/MOV box structure)."""
    with path.open("rb") as handle:
        pos = 0
        for _ in range(_TOP_BOXES):
            handle.seek(pos)
            head = handle.read(16)
            if len(head) < 8:
                return None
            size, kind = struct.unpack(">I4s", head[:8])
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1 and len(head) == 16:
                size = struct.unpack(">Q", head[8:16])[0]
            if size < 8:
                return None
            pos += size
    return None


def parse(path: Path, doc: dict[str, Any], faststart: bool | None) -> MediaInfo:
    """``MediaInfo`` from ffprobe's JSON; ``MediaUnreadable`` when it describes no video."""
    streams = doc.get("streams") or []
    fmt = doc.get("format") or {}
    video = next(
        (
            s
            for s in streams
            if s.get("codec_type") == "video"
            and not (s.get("disposition") or {}).get("attached_pic")
        ),
        None,
    )
    if video is None:
        raise MediaUnreadable(path, "no video stream (ffprobe found none)")
    kind = str(fmt.get("format_name") or "")
    if kind == "image2" or kind.endswith("_pipe"):  # a JPEG/PNG/WebP picture, even named .mp4
        raise MediaUnreadable(path, f"a still image ({video.get('codec_name')}), not a video")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = float(fmt.get("duration") or video.get("duration") or 0)
    if duration <= 0:
        raise MediaUnreadable(path, "no duration (ffprobe reports none)")
    depth, chroma = _depth_and_chroma(video)
    rate = fmt.get("bit_rate")
    return MediaInfo(
        container=_container(fmt),
        video_codec=str(video.get("codec_name") or "unknown"),
        profile=video.get("profile"),
        pix_fmt=str(video.get("pix_fmt") or "unknown"),
        bit_depth=depth,
        chroma=chroma,
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        rotation=_rotation(video),
        fps=_fps(video),
        duration_s=round(duration, 3),
        size=int(fmt.get("size") or path.stat().st_size),
        bit_rate=int(rate) if isinstance(rate, str) and rate.isdigit() else None,
        audio_codec=str(audio.get("codec_name")) if audio else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        audio_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        faststart=faststart,
        audio_profile=str(audio["profile"]) if audio and audio.get("profile") else None,
        video_bit_rate=_int(video.get("bit_rate")),
    )


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _reason(stderr: bytes, path: Path, code: int) -> str:
    """ffprobe's error lines without their ``[demuxer @ 0x..]`` and path prefixes."""
    seen: list[str] = []
    for line in stderr.decode("utf-8", "replace").splitlines():
        text = _PREFIX.sub("", line.strip()).removeprefix(f"{path}: ").strip()
        if text and text not in seen:
            seen.append(text)
    return "; ".join(seen[-3:]) or f"ffprobe exited with {code}"


def probe_file(path: Path, ffprobe: str = "ffprobe") -> MediaInfo:
    """Probe ``path`` (blocking): ``MediaInfo`` or ``MediaUnreadable`` with ffprobe's reason."""
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    try:
        done = subprocess.run(
            [*cmd, str(path)],
            capture_output=True,
            timeout=PROBE_TIMEOUT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise MediaUnreadable(path, f"ffprobe took longer than {PROBE_TIMEOUT:.0f} s") from None
    except (FileNotFoundError, PermissionError):  # the program, not the clip (passed as an arg)
        raise ToolMissing(ffprobe) from None
    if done.returncode != 0:
        raise MediaUnreadable(path, _reason(done.stderr, path, done.returncode))
    try:
        doc = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise MediaUnreadable(path, "ffprobe gave no readable answer") from None
    try:
        return parse(path, doc, faststart_of(path))
    except MediaUnreadable as exc:  # ffprobe read it but found no video: add what it said
        said = _reason(done.stderr, path, 0) if done.stderr.strip() else ""
        why = f"{exc.reason}; ffprobe: {said}" if said else exc.reason
        raise MediaUnreadable(path, why) from None


class Prober:
    """Probes off the event loop; remembers each answer (a ``MediaUnreadable`` too) by key."""

    def __init__(self, ffprobe: str = "ffprobe", keep: int = CACHE_ENTRIES) -> None:
        self._ffprobe = ffprobe
        self._keep = keep
        self.missing = False  # ffprobe was not found: said once, clips go unchecked
        self._known: dict[object, MediaInfo | MediaUnreadable] = {}
        self.runs = 0  # ffprobe processes started (tests and the suite's cost)

    def cached(self, key: object) -> MediaInfo | None:
        """The remembered answer for ``key`` (raises the remembered ``MediaUnreadable``)."""
        got = self._known.get(key)
        if isinstance(got, MediaUnreadable):
            raise got
        return got

    async def probe(self, path: Path, key: object) -> MediaInfo:
        """``MediaInfo`` of ``path``, probed once per ``key`` (its SHA-256 or identity)."""
        known = self.cached(key)
        if known is not None:
            return known
        self.runs += 1
        try:
            info: MediaInfo | MediaUnreadable = await asyncio.to_thread(
                probe_file, path, self._ffprobe
            )
        except MediaUnreadable as exc:
            info = exc
        except ToolMissing as exc:
            if not self.missing:
                self.missing = True
                log.warning("media_check_off", reason=str(exc), clips="uploaded unchecked")
            raise
        self._known[key] = info
        while len(self._known) > self._keep:
            del self._known[next(iter(self._known))]
        if isinstance(info, MediaUnreadable):
            raise info
        return info
