"""Each platform's media decision: upload the file as is, a variant made once, or refuse.

``judge(info, caps, platform)`` compares a probed clip with the platform's declared limits
(``Capabilities.media``, ``max_duration_s``, ``max_bytes``) and answers a ``Verdict``:
- ``upload_as_is``: everything fits; the user's file goes out untouched (same SHA-256);
- ``transcode``: something a transcode fixes (codec, bit depth, chroma, resolution, frame rate,
  audio, container, faststart, file size); the ``Profile`` says what the variant is;
- ``reject``: what no transcode fixes without changing the post (too long: a cut is the
  user's call; aspect ratio: a layout's). The message names the measured value and the limit.
Below a platform's advisory minimums (duration, frame rate, resolution) the verdict carries a
note and the file still goes (ADR 0017, docs/media.md).

``variants.MediaCheck.fit`` applies the verdict to an ``UploadRequest`` (the publisher calls
it before ``validate``): a variant is transcoded once per (source SHA-256, profile) into
``RENDER_CACHE_DIR`` through the render runner (temp name -> rename), shared by every
platform whose verdict names the same profile, found again after a restart. The source must
still be the file that was planned (its ``FileIdentity``) before and after the transcode; the
variant's own identity guards its upload.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from atroposd.errors import PermanentError
from atroposd.providers import PLATFORMS
from atroposd.providers.base import Capabilities
from atroposd.render.probe import MediaInfo

SIZE_MARGIN = 0.92  # a size-capped variant aims this far under the platform's limit
AUDIO_KBPS = 128
MIN_VIDEO_KBPS = 150  # below this a size cap would ruin the picture: refuse instead


class Action(StrEnum):
    """What a platform gets."""

    AS_IS = "upload_as_is"
    TRANSCODE = "transcode"
    REJECT = "reject"


class MediaRejected(PermanentError):
    """The clip cannot be made to fit a platform (too long, wrong shape): failed there alone."""


@dataclass(frozen=True)
class Profile:
    """A variant: what its ffmpeg run produces (same profile, same bytes: one file)."""

    video: str  # "copy" or "h264" (High, 8-bit 4:2:0)
    width: int  # as displayed
    height: int
    fps: float | None  # None: the source's rate
    video_kbps: int | None  # a cap, from a platform's file size limit
    audio: str  # "copy", "aac" or "none"

    @property
    def key(self) -> str:
        """The profile's name in the cache: ``h264-1280x720-30fps-aac``, ``copy-copy``..."""
        if self.video == "copy":
            return f"copy-{self.audio}"
        parts = ["h264", f"{self.width}x{self.height}"]
        parts += [f"{self.fps:g}fps"] if self.fps else []
        parts += [f"{self.video_kbps}k"] if self.video_kbps else []
        return "-".join([*parts, self.audio])


@dataclass(frozen=True)
class Verdict:
    """One platform's answer for one clip."""

    action: Action
    reasons: tuple[str, ...] = ()  # why transcode / why reject
    notes: tuple[str, ...] = ()  # below an advisory minimum
    profile: Profile | None = None


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _scale(info: MediaInfo, caps: Capabilities) -> float:
    """How far the picture must shrink to fit the platform's box (1.0: it fits)."""
    lim = caps.media
    w, h = info.display
    bounds = [
        (lim.max_width, w),
        (lim.max_height, h),
        (lim.max_long_side, max(w, h)),
        (lim.max_short_side, min(w, h)),
    ]
    return min([1.0, *(most / got for most, got in bounds if most and got > most)])


def _video_reasons(info: MediaInfo, caps: Capabilities, label: str) -> Iterator[str]:
    lim = caps.media
    if lim.video_codecs and info.video_codec not in lim.video_codecs:
        takes = ", ".join(sorted(lim.video_codecs))
        yield f"video codec {info.video_codec} is not one {label} takes ({takes})"
    if lim.max_bit_depth and info.bit_depth > lim.max_bit_depth:
        yield f"{info.bit_depth}-bit video is above {label}'s {lim.max_bit_depth}-bit"
    if lim.chroma_420_only and info.chroma != "420":
        yield f"chroma {info.chroma} ({info.pix_fmt}) is not the 4:2:0 {label} takes"
    if _scale(info, caps) < 1.0:
        w, h = info.display
        yield f"resolution {w}x{h} is above {label}'s maximum ({_box(caps)})"
    if lim.max_fps and info.fps > lim.max_fps + 0.01:
        yield f"frame rate {info.fps:g} fps is above {label}'s limit of {lim.max_fps:g} fps"
    if info.size > caps.max_bytes:
        yield f"size {_mb(info.size)} is above {label}'s limit of {_mb(caps.max_bytes)}"
    if _over_bitrate(info, caps):
        yield (
            f"video bit rate {info.video_bit_rate or 0:,} b/s is above {label}'s "
            f"{lim.max_video_kbps} kb/s"
        )


def _over_bitrate(info: MediaInfo, caps: Capabilities) -> bool:
    most = caps.media.max_video_kbps
    return bool(most and info.video_bit_rate and info.video_bit_rate > most * 1000)


def _box(caps: Capabilities) -> str:
    lim = caps.media
    parts = [
        f"width {lim.max_width}" if lim.max_width else "",
        f"height {lim.max_height}" if lim.max_height else "",
        f"long side {lim.max_long_side}" if lim.max_long_side else "",
        f"short side {lim.max_short_side}" if lim.max_short_side else "",
    ]
    return ", ".join(p for p in parts if p)


def _audio_reasons(info: MediaInfo, caps: Capabilities, label: str) -> Iterator[str]:
    lim = caps.media
    if info.audio_codec is None:
        return
    if lim.audio_codecs and info.audio_codec not in lim.audio_codecs:
        takes = ", ".join(sorted(lim.audio_codecs))
        yield f"audio codec {info.audio_codec} is not one {label} takes ({takes})"
    channels = info.audio_channels or 0
    if lim.max_audio_channels and channels > lim.max_audio_channels:
        yield f"audio has {channels} channels; {label} takes at most {lim.max_audio_channels}"
    if lim.max_audio_rate and (info.audio_rate or 0) > lim.max_audio_rate:
        yield f"audio at {info.audio_rate} Hz is above {label}'s {lim.max_audio_rate} Hz"
    if lim.aac_lc_only and info.audio_codec == "aac" and info.audio_profile not in (None, "LC"):
        yield f"audio is {info.audio_profile}; {label} takes AAC-LC only"


def _box_reasons(info: MediaInfo, caps: Capabilities, label: str) -> Iterator[str]:
    lim = caps.media
    if lim.containers and info.container not in lim.containers:
        takes = ", ".join(sorted(lim.containers))
        yield f"container {info.container} is not one {label} takes ({takes})"
    if lim.faststart and info.faststart is False:
        yield f"the moov box comes after the media data; {label} wants it first (faststart)"


def _rejects(info: MediaInfo, caps: Capabilities, label: str) -> Iterator[str]:
    if caps.max_duration_s is not None and info.duration_s > caps.max_duration_s:
        yield (
            f"duration {info.duration_s:.1f} s is above {label}'s limit of "
            f"{caps.max_duration_s:g} s (cut it shorter, or post it elsewhere)"
        )
    lim = caps.media
    w, h = info.display
    aspect = w / h if h else 0.0
    low, high = lim.min_aspect, lim.max_aspect
    if (low is not None and aspect < low * 0.999) or (high is not None and aspect > high * 1.001):
        yield (
            f"aspect ratio {w}:{h} ({aspect:.3f}) is outside {label}'s range "
            f"{low or 0:.3g}-{high or math.inf:.3g} (render it with a layout)"
        )


def _notes(info: MediaInfo, caps: Capabilities, label: str) -> Iterator[str]:
    lim = caps.media
    tail = "; the platform may refuse it"
    if lim.min_duration_s and info.duration_s < lim.min_duration_s:
        yield (
            f"duration {info.duration_s:.1f} s is below {label}'s minimum of "
            f"{lim.min_duration_s:g} s{tail}"
        )
    if lim.min_fps and 0 < info.fps < lim.min_fps:
        yield f"frame rate {info.fps:g} fps is below {label}'s minimum of {lim.min_fps:g} fps{tail}"
    if lim.min_short_side and min(info.display) < lim.min_short_side:
        w, h = info.display
        yield (
            f"resolution {w}x{h} is below {label}'s minimum short side of "
            f"{lim.min_short_side} px{tail}"
        )


def _profile(info: MediaInfo, caps: Capabilities, video: bool, audio: bool) -> Profile:
    """The variant that fixes what ``judge`` found."""
    sound = "none" if info.audio_codec is None else ("aac" if audio or video else "copy")
    if video and info.audio_codec == "aac" and not audio:
        sound = "copy"  # AAC that fits goes through untouched
    if not video:
        w, h = info.display
        return Profile("copy", w, h, None, None, sound)
    scale = _scale(info, caps)
    w, h = info.display
    lim = caps.media
    fps = None
    if lim.max_fps and info.fps > lim.max_fps + 0.01:
        fps = round(info.fps / math.ceil(info.fps / lim.max_fps), 3)
    kbps = None
    if info.size > caps.max_bytes:
        kbps = int(caps.max_bytes * 8 * SIZE_MARGIN / info.duration_s / 1000) - AUDIO_KBPS
    if _over_bitrate(info, caps) and lim.max_video_kbps:
        kbps = min(kbps or lim.max_video_kbps, int(lim.max_video_kbps * SIZE_MARGIN))
    return Profile("h264", _even(w * scale), _even(h * scale), fps, kbps, sound)


def judge(info: MediaInfo, caps: Capabilities, platform: str) -> Verdict:
    """What ``platform`` gets for this clip, and why."""
    label = caps.label or platform
    notes = tuple(_notes(info, caps, label))
    rejects = tuple(_rejects(info, caps, label))
    if rejects:
        return Verdict(Action.REJECT, rejects, notes)
    video = tuple(_video_reasons(info, caps, label))
    audio = tuple(_audio_reasons(info, caps, label))
    boxed = tuple(_box_reasons(info, caps, label))
    if not (video or audio or boxed):
        return Verdict(Action.AS_IS, (), notes)
    profile = _profile(info, caps, bool(video), bool(audio))
    if profile.video_kbps is not None and profile.video_kbps < MIN_VIDEO_KBPS:
        why = (
            f"size {_mb(info.size)} cannot be brought under {label}'s limit of "
            f"{_mb(caps.max_bytes)} for {info.duration_s:.1f} s without ruining the picture"
        )
        return Verdict(Action.REJECT, (why,), notes)
    return Verdict(Action.TRANSCODE, video + audio + boxed, notes, profile)


def capabilities_by_platform() -> dict[str, Capabilities]:
    """Each registered platform's ``Capabilities`` (its provider class's), without building it."""
    found: dict[str, Capabilities] = {}
    for name in PLATFORMS:
        module = importlib.import_module(f"atroposd.providers.{name}.provider")
        for value in vars(module).values():
            caps = getattr(value, "capabilities", None)
            named = isinstance(value, type) and getattr(value, "name", None) == name
            if named and isinstance(caps, Capabilities):
                found[name] = caps
    return found
