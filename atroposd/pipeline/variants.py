"""Platform variants: transcoded once per (source SHA-256, profile), cached, guarded.

``MediaCheck`` is what intake and the publisher share: the probe cache (by SHA-256) and the
variant cache under ``RENDER_CACHE_DIR`` (``<sha256>.<profile>.mp4``). ``fit`` turns a
post's ``UploadRequest`` into the one to send: unchanged, pointed at a variant, or
``MediaRejected``. A variant is made through the render runner (hidden temp name, fsync,
rename; ffmpeg killed when the daemon stops), one run at a time per file, so platforms that
share a profile wait for the same run and a restart finds the finished file.

Files (ADR 0005, 0017): the source must be the planned file (its ``FileIdentity``) before the
transcode and again after it, else ``SourceChanged`` and the variant is thrown away. A
re-export of the source has another SHA-256, so it never meets the old version's variant;
the old version's posts are parked by the usual file rules. The variant's upload is guarded
by its own identity (the provider checks it piece by piece).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import shutil
import time
from dataclasses import replace
from pathlib import Path

import structlog

from atroposd.domain import FileIdentity
from atroposd.errors import SourceChanged
from atroposd.pipeline.files import trim
from atroposd.pipeline.media import Action, MediaRejected, Profile, Verdict, judge
from atroposd.providers.base import Capabilities, UploadRequest
from atroposd.render.errors import OutputWriteFailed, RenderFailed
from atroposd.render.probe import MediaInfo, MediaUnreadable, Prober, ToolMissing
from atroposd.render.runner import run_ffmpeg

log = structlog.get_logger("atroposd")
HASH_PIECE = 4 * 1024 * 1024
TRANSCODES_AT_ONCE = 1  # two 4K variants side by side on 2 vCPUs: both late, uploads starved
LOW_SPACE = 64 * 1024 * 1024  # below this, an unreadable fresh variant is put down to a full disk
CRF = "20"
KEYFRAME_SECONDS = 2
# A variant made again (its cache file deleted) must be the same bytes, or an upload resumed
# on the platform would go on with other bytes: a fixed encoder thread count (x264 is then
# deterministic) and no version strings or times in the file.
THREADS = "4"
BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(HASH_PIECE):
            digest.update(piece)
    return digest.hexdigest()


def ffmpeg_args(source: Path, profile: Profile) -> list[str]:
    """The ffmpeg arguments (all but the output) that make ``profile`` from ``source``."""
    args = ["-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1"]
    if profile.video == "copy":
        args += ["-c:v", "copy"]
    else:
        chain = [f"scale={profile.width}:{profile.height}:flags=lanczos"]
        chain += [f"fps={profile.fps:g}"] if profile.fps else []
        chain += ["format=yuv420p"]
        args += ["-vf", ",".join(chain), "-c:v", "libx264", "-profile:v", "high"]
        args += ["-preset", "veryfast", "-crf", CRF, "-fps_mode", "cfr", "-threads", THREADS]
        args += ["-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})"]
        if profile.video_kbps:
            rate = f"{profile.video_kbps}k"
            args += ["-maxrate", rate, "-bufsize", f"{profile.video_kbps * 2}k"]
    if profile.audio == "copy":
        args += ["-c:a", "copy"]
    elif profile.audio == "aac":
        args += ["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000"]
    else:
        args += ["-an"]
    return [*args, *BITEXACT, "-movflags", "+faststart", "-f", "mp4"]


class MediaCheck:
    """Probes clips and makes the variants platforms need (one per source and profile)."""

    def __init__(self, cache_dir: Path, prober: Prober | None = None) -> None:
        self.prober = prober or Prober()
        self.cache_dir = cache_dir
        self._runs: dict[Path, asyncio.Lock] = {}
        self._slot = asyncio.Semaphore(TRANSCODES_AT_ONCE)
        self._hashes: dict[tuple[Path, FileIdentity], str] = {}
        self._warned: dict[tuple[str, str], None] = {}
        self.transcodes = 0  # ffmpeg runs that made a variant (tests, the suite's cost)

    async def probe(self, path: Path, sha256: str) -> MediaInfo:
        """``MediaInfo`` of a clip, once per content (``MediaUnreadable`` with the reason)."""
        return await self.prober.probe(path, sha256)

    def variant_path(self, sha256: str, profile: Profile) -> Path:
        """Where the variant of ``sha256`` in ``profile`` lives."""
        return self.cache_dir / f"{sha256}.{profile.key}.mp4"

    async def verdict(self, request: UploadRequest, platform: str, caps: Capabilities) -> Verdict:
        """The platform's verdict on the request's file (probed once per SHA-256)."""
        try:
            info = await self.probe(request.path, request.sha256)
        except ToolMissing:  # no ffprobe: said once (media_check_off); the file goes as is
            return Verdict(Action.AS_IS)
        verdict = judge(info, caps, platform)
        if verdict.notes and (request.sha256, platform) not in self._warned:
            self._warned[(request.sha256, platform)] = None
            trim(self._warned)
            for note in verdict.notes:
                log.warning(
                    "media_below_minimum", platform=platform, path=str(request.path), note=note
                )
        return verdict

    async def fit(self, request: UploadRequest, platform: str, caps: Capabilities) -> UploadRequest:
        """The request to send: as is, pointed at a variant, or ``MediaRejected``."""
        verdict = await self.verdict(request, platform, caps)
        if verdict.action is Action.AS_IS:
            return request
        if verdict.action is Action.REJECT or verdict.profile is None:
            raise MediaRejected("; ".join(verdict.reasons), platform=platform, code="media")
        path = await self.variant(request, verdict, platform)
        identity = await asyncio.to_thread(FileIdentity.of, path)
        try:
            vinfo = await self.prober.probe(path, (path, identity))
        except MediaUnreadable as exc:  # a full disk (ffmpeg may still exit 0), a cut file
            raise await self._discard(path, exc) from None
        after = judge(vinfo, caps, platform)
        if after.action is not Action.AS_IS:
            why = "; ".join(after.reasons)
            raise MediaRejected(
                f"the {caps.label or platform} variant does not fit: {why}",
                platform=platform,
                code="media",
            )
        sha = await self._hash(path, identity)
        return replace(
            request,
            path=path,
            size=identity.size,
            sha256=sha,
            identity=identity,
            mime_type="video/mp4",
        )

    async def _discard(self, path: Path, exc: MediaUnreadable) -> OSError:
        """Remove an unreadable variant (made again on the next attempt): a retried OSError."""
        await asyncio.to_thread(path.unlink, True)
        free = (await asyncio.to_thread(shutil.disk_usage, path.parent)).free
        full = free < LOW_SPACE
        log.warning("variant_unreadable", path=str(path), reason=exc.reason, free_bytes=free)
        why = "no space left for a variant" if full else "the variant ffmpeg wrote is unreadable"
        return OSError(
            errno.ENOSPC if full else errno.EIO,
            f"{path.parent}: {why} ({exc.reason}; {free / 1e6:.0f} MB free); removed, "
            "made again on the next attempt",
        )

    async def _hash(self, path: Path, identity: FileIdentity) -> str:
        key = (path, identity)
        if key not in self._hashes:
            self._hashes[key] = await asyncio.to_thread(_sha256, path)
            trim(self._hashes)
        return self._hashes[key]

    async def variant(self, request: UploadRequest, verdict: Verdict, platform: str) -> Path:
        """The variant file, made now unless an earlier run (or process) made it."""
        assert verdict.profile is not None
        out = self.variant_path(request.sha256, verdict.profile)
        lock = self._runs.setdefault(out, asyncio.Lock())
        async with lock:
            if await asyncio.to_thread(out.is_file):
                log.info(
                    "variant_reused",
                    platform=platform,
                    sha256=request.sha256,
                    profile=verdict.profile.key,
                )
                return out
            async with self._slot:  # one ffmpeg at a time: x264 takes every core already
                await self._transcode(request, verdict, platform, out)
        return out

    async def _transcode(
        self, request: UploadRequest, verdict: Verdict, platform: str, out: Path
    ) -> None:
        assert verdict.profile is not None
        await asyncio.to_thread(self._same_source, request)
        await asyncio.to_thread(self.cache_dir.mkdir, parents=True, exist_ok=True)
        log.info(
            "variant_transcoding",
            platform=platform,
            sha256=request.sha256,
            profile=verdict.profile.key,
            why="; ".join(verdict.reasons),
        )
        started = time.monotonic()
        info = self.prober.cached(request.sha256)
        try:
            await run_ffmpeg(
                ffmpeg_args(request.path, verdict.profile),
                out,
                duration=info.duration_s if info is not None else None,
            )
        except (FileNotFoundError, OutputWriteFailed) as exc:  # the cache's fault, not the clip's
            full = "No space left" in str(exc)
            raise OSError(
                errno.ENOSPC if full else errno.EIO,
                f"{out.parent}: "
                + ("no space left for a variant" if full else "cannot write")
                + f" ({str(exc)[-200:]}); made again next attempt",
            ) from None
        except RenderFailed as exc:
            if "No space left" in str(exc):  # the world, not the clip: retried with backoff
                raise OSError(errno.ENOSPC, f"{out.parent}: no space left for a variant") from None
            raise MediaRejected(
                f"the {verdict.profile.key} variant could not be made: {exc}",
                platform=platform,
                code="transcode",
            ) from None
        try:
            await asyncio.to_thread(
                self._same_source, request
            )  # read the planned bytes from start to end
        except SourceChanged:
            await asyncio.to_thread(out.unlink, True)
            raise
        self.transcodes += 1
        log.info(
            "variant_transcoded",
            platform=platform,
            sha256=request.sha256,
            profile=verdict.profile.key,
            bytes=(await asyncio.to_thread(out.stat)).st_size,
            seconds=round(time.monotonic() - started, 2),
        )

    @staticmethod
    def _same_source(request: UploadRequest) -> None:
        if request.identity is not None and FileIdentity.of(request.path) != request.identity:
            raise SourceChanged(
                f"{request.path}: the video was replaced or rewritten after it was planned; "
                "the new version is planned on its own"
            )
