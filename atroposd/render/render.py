"""Render one source in one layout into a vertical MP4 (layer 1).

``Renderer.render`` probes the source, checks the cut, builds the graph, runs ffmpeg through
the runner (temp name, rename), falls back to libx264 when a hardware encoder cannot be
opened, and checks the result: a source with audio never yields a silent file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from atroposd.render.errors import CutError, EncoderUnavailable, RenderFailed
from atroposd.render.geometry import plan
from atroposd.render.graph import Cut, Encoder, ffmpeg_args
from atroposd.render.layouts import CANVAS, Layout
from atroposd.render.runner import ProgressCallback, run_ffmpeg
from atroposd.render.source import SourceInfo, probe_source

log = structlog.get_logger("atroposd")
KEY_PREFIX = "atroposd:"
CUT_SLACK = 0.05  # seconds a cut may pass the probed end (container rounding)


@dataclass(frozen=True)
class Rendered:
    """A finished render."""

    path: Path
    key: str
    encoder: str
    silent: bool


def cache_key(source_sha256: str, layout: Layout, cut: Cut | None) -> str:
    """The render's identity: (source bytes, layout definition, cut). Hex, 32 chars."""
    span = None if cut is None else [f"{cut.start:.3f}", f"{cut.end:.3f}"]
    raw = json.dumps([source_sha256, layout.fingerprint(), span], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def check_cut(cut: Cut | None, info: SourceInfo, where: str) -> None:
    """``CutError`` unless ``cut`` lies inside the source and has a length."""
    if cut is None:
        return
    if cut.start < 0 or cut.end <= cut.start:
        raise CutError(f"{where}: end {cut.end:g} s must come after start {cut.start:g} s ≥ 0")
    if info.duration and cut.end > info.duration + CUT_SLACK:
        raise CutError(
            f"{where}: end {cut.end:g} s is past the source's end ({info.duration:.3f} s)"
        )


class Renderer:
    """Renders with the configured encoder; remembers a hardware encoder that failed."""

    def __init__(
        self, encoder: Encoder | None = None, *, env: Mapping[str, str] | None = None
    ) -> None:
        self.encoder = encoder or Encoder()
        self._env = env

    async def render(
        self,
        source: Path,
        output: Path,
        layout: Layout,
        *,
        cut: Cut | None = None,
        key: str = "",
        on_progress: ProgressCallback | None = None,
    ) -> Rendered:
        """Render ``source`` (the ``cut`` of it) in ``layout`` to ``output``."""
        info = await probe_source(source)
        check_cut(cut, info, str(source))
        frame = plan(layout, info.width, info.height)
        length = cut.length if cut else info.duration
        if not info.has_audio:
            log.info("render_silent", source=str(source), reason="the source has no audio")
        comment = KEY_PREFIX + key if key else ""
        while True:
            args = ffmpeg_args(
                str(source), info, frame, layout.background, cut=cut,
                encoder=self.encoder, comment=comment,
            )  # fmt: skip
            try:
                await run_ffmpeg(
                    args, output, duration=length, on_progress=on_progress, env=self._env
                )
                break
            except EncoderUnavailable as exc:
                if self.encoder.name == "libx264":
                    raise
                log.warning(
                    "render_encoder_fallback",
                    encoder=self.encoder.name,
                    to="libx264",
                    reason=str(exc)[:300],
                )
                self.encoder = Encoder("libx264", self.encoder.preset, self.encoder.crf)
        await self._check(output, info)
        return Rendered(output, key, self.encoder.name, not info.has_audio)

    async def _check(self, output: Path, source: SourceInfo) -> None:
        """The output has the canvas size, and audio when the source had it; else removed."""
        got = await probe_source(output)
        problem = None
        if (got.width, got.height) != CANVAS:
            problem = f"size {got.width}x{got.height}, expected {CANVAS[0]}x{CANVAS[1]}"
        elif source.has_audio and not got.has_audio:
            problem = "the source has audio but the render is silent"
        if problem is not None:
            await asyncio.to_thread(output.unlink, missing_ok=True)
            raise RenderFailed(f"{output}: render check failed: {problem}", returncode=0, stderr=())


async def rendered_key(path: Path) -> str | None:
    """The cache key a finished render carries, or None (not ours, unreadable, missing)."""
    if not await asyncio.to_thread(path.is_file):
        return None
    try:
        info = await probe_source(path)
    except RenderFailed:
        return None
    return info.comment.removeprefix(KEY_PREFIX) if info.comment.startswith(KEY_PREFIX) else None
