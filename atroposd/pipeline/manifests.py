"""The manifest job: ``out/<account>/<project>/clips.json`` -> rendered shorts (layer 2).

Every ``interval`` seconds the job looks at each ``out/<account>/<project>/clips.json`` whose
files have been quiet for ``settle`` seconds. Each valid window is rendered in its layout
(entry > the account's ``layout`` > ``RENDER_LAYOUT``) into ``shorts/<stem>.mp4`` beside its
caption ``shorts/<stem>.txt`` (and ``<stem>.json`` with the title when given); the watcher then
posts the pair like any other clip. Problems (a bad file, a bad entry, a failed render) are
reported once each through ``on_problem``; the files stay as they are.

A render is identified by ``cache_key(source sha256, layout, cut)``. A finished render leaves a
record ``<cache_dir>/<key>-<output path hash>.json``, and the MP4 carries its key in its
``comment`` tag (so a crash between the rename and the record is recovered without rendering
again). A window whose key has a record is never rendered again, even once its short was
posted and archived: an edited manifest renders only the entries whose key changed. The
video beside ``clips.json`` is the source and is never posted itself
(``is_manifest_source``, ADR 0014).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Protocol

import structlog

from atroposd.bus import Bus, RenderProgressed
from atroposd.domain import FileIdentity
from atroposd.errors import AtroposError, InputError
from atroposd.pipeline.intake import sha256_file
from atroposd.pipeline.manifest_model import (
    MANIFEST,
    Entry,
    Window,
    find_source,
    read_manifest,
    windows,
)
from atroposd.render.errors import OutputWriteFailed
from atroposd.render.graph import Cut, Encoder
from atroposd.render.layouts import Layout, Layouts
from atroposd.render.render import Renderer, cache_key, rendered_key
from atroposd.render.runner import Progress
from atroposd.render.source import probe_source
from atroposd.watch.mp4 import mp4_problem
from atroposd.watch.roots import valid_account

log = structlog.get_logger("atroposd")
Problem = Callable[[Path, str], Awaitable[None]]
# A render that could not be written (disk full) is tried again this much later, not at once.
WRITE_RETRY_SECONDS = 300.0


def is_manifest_source(video: Path) -> bool:
    """True for a video directly beside a ``clips.json``: a source to cut, not a clip."""
    return (video.parent / MANIFEST).is_file()


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` through a hidden temp name, fsync, rename (unchanged: no write)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return
    temp = path.with_name(f".{path.name}.part")
    with temp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, path)


class Manifests:
    """Finds manifests under ``out_root`` and renders what they ask for, one at a time."""

    def __init__(
        self,
        *,
        out_root: Path,
        cache_dir: Path,
        layouts: Layouts,
        account_layout: Callable[[str], str | None],
        renderer: Renderer,
        bus: Bus,
        on_problem: Problem,
        context: float,
        settle: float,
        interval: float,
        write_retry: float = WRITE_RETRY_SECONDS,
    ) -> None:
        self.out_root = out_root
        self.cache_dir = cache_dir
        self.layouts = layouts
        self._account_layout = account_layout
        self.renderer = renderer
        self.bus = bus
        self._problem = on_problem
        self.context = context
        self.settle = settle
        self.interval = interval
        self._done: dict[Path, tuple[object, ...]] = {}  # folder -> files' state when handled
        self._hashes: dict[tuple[str, int, int, int], str] = {}
        self.write_retry = write_retry
        self._retry_at: dict[Path, float] = {}  # folder -> when a render that could not write
        self._write_failed = False  # a render of the project being handled could not write

    async def run(self) -> None:
        """Scan, render, wait ``interval``; until cancelled (ffmpeg is killed with it)."""
        while True:
            await self.scan_once()
            await asyncio.sleep(self.interval)

    def _projects(self) -> list[Path]:
        found: list[Path] = []
        if not self.out_root.is_dir():
            return found
        for account in sorted(self.out_root.iterdir()):
            if not account.is_dir() or not valid_account(account.name):
                continue
            found += [p.parent for p in sorted(account.glob(f"*/{MANIFEST}"))]
        return [p for p in found if not p.name.startswith(".")]

    async def scan_once(self) -> int:
        """Handle every settled manifest once; the number of shorts rendered."""
        rendered = 0
        for folder in await asyncio.to_thread(self._projects):
            try:
                rendered += await self._project(folder)
            except InputError as exc:
                await self._problem(folder / MANIFEST, str(exc))
            except OSError as exc:
                await self._problem(folder / MANIFEST, f"cannot read: {exc}")
        return rendered

    def _state(self, folder: Path) -> tuple[tuple[object, ...], float] | None:
        """The manifest folder's files (name, size, mtime) and the newest mtime."""
        stats = []
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith("."):
                ident = FileIdentity.of(p)
                stats.append((p.name, ident.size, ident.mtime_ns))
        newest = max((s[2] for s in stats), default=0) / 1e9
        return tuple(stats), newest

    async def _project(self, folder: Path) -> int:
        state = await asyncio.to_thread(self._state, folder)
        if state is None or self._done.get(folder) == state[0]:
            return 0
        if time.monotonic() < self._retry_at.get(folder, 0.0):
            return 0  # a render could not be written (disk full): not before its retry time
        if time.time() - state[1] < self.settle:
            return 0  # still being written: next pass
        await asyncio.to_thread(_sweep_temps, folder / "shorts")
        manifest = await asyncio.to_thread(read_manifest, folder / MANIFEST)
        source = await asyncio.to_thread(find_source, folder, manifest.source)
        problem = await asyncio.to_thread(mp4_problem, source)
        if problem is not None and source.suffix.lower() in {".mp4", ".m4v", ".mov"}:
            return 0  # incomplete copy: next pass
        info = await probe_source(source)
        good, bad = windows(manifest.entries, info.duration, self.context)
        for number, reason in bad:
            await self._problem(folder / MANIFEST, f"entry {number}: {reason}")
            log.warning("manifest_entry_invalid", manifest=str(folder / MANIFEST), entry=number)
        ident = await asyncio.to_thread(FileIdentity.of, source)
        sha = await self._hash(source)
        account = folder.relative_to(self.out_root).parts[0]
        rendered = 0
        self._write_failed = False
        for window in good:
            rendered += await self._window(folder, (source, ident), sha, account, window)
        if self._write_failed:  # not done: tried again after write_retry
            self._retry_at[folder] = time.monotonic() + self.write_retry
        else:
            self._done[folder] = state[0]
        log.info("manifest_checked", manifest=str(folder / MANIFEST), source=source.name,
                 windows=len(good), invalid=len(bad), rendered=rendered)  # fmt: skip
        return rendered

    async def _hash(self, source: Path) -> str:
        ident = await asyncio.to_thread(FileIdentity.of, source)
        key = (str(source), ident.size, ident.mtime_ns, ident.inode)
        if key not in self._hashes:
            self._hashes[key] = (await asyncio.to_thread(sha256_file, source))[0]
        return self._hashes[key]

    def _layout(self, account: str, window: Window, manifest: Path) -> Layout:
        return self.layouts.pick(
            clip=(window.entry.layout or "", f"{manifest} entry {window.number}"),
            account=(self._account_layout(account) or "", f"upload_config.json account {account}"),
        )

    async def _window(
        self, folder: Path, src: tuple[Path, FileIdentity], sha: str, account: str, w: Window
    ) -> int:
        source = src[0]
        manifest = folder / MANIFEST
        try:
            layout = self._layout(account, w, manifest)
        except AtroposError as exc:
            await self._problem(manifest, str(exc))
            return 0
        cut = Cut(w.cut_start, w.cut_end)
        key = cache_key(sha, layout, cut)
        shorts = folder / "shorts"
        video = shorts / f"{w.stem}.mp4"
        # Per output too: the same window of a copied project (another account) is its own short.
        where = hashlib.sha256(str(video).encode()).hexdigest()[:12]
        record = self.cache_dir / f"{key}-{where}.json"
        if await asyncio.to_thread(record.is_file):
            return 0  # rendered before (perhaps posted and archived since)
        await asyncio.to_thread(self._write_texts, shorts, w)
        if await rendered_key(video) != key:
            if not await self._render(source, video, layout, cut, key, w, manifest):
                return 0
            if not await asyncio.to_thread(_still_wanted, folder, src, w):
                await asyncio.to_thread(_drop_stale, shorts, w)
                log.info("render_dropped", output=str(video), key=key,
                         reason="clips.json or its source changed during the render")  # fmt: skip
                return 0
            done = 1
        else:
            done = 0  # finished before a crash, record not yet written
        await asyncio.to_thread(self._record, record, video, w)
        return done

    def _write_texts(self, shorts: Path, w: Window) -> None:
        shorts.mkdir(exist_ok=True)
        _atomic_write(shorts / f"{w.stem}.txt", w.entry.caption)
        if w.entry.title:
            _atomic_write(shorts / f"{w.stem}.json", json.dumps({"title": w.entry.title}))

    def _record(self, record: Path, video: Path, w: Window) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        body = {"output": str(video), "start": w.cut_start, "end": w.cut_end}
        _atomic_write(record, json.dumps(body))

    async def _render(
        self, source: Path, video: Path, layout: Layout, cut: Cut, key: str, w: Window, where: Path
    ) -> bool:
        def progress(p: Progress) -> None:
            self.bus.publish(RenderProgressed(key, str(video), p.percent, p.speed, p.done))

        log.info("render_started", output=str(video), layout=layout.name, key=key,
                 start=round(cut.start, 3), end=round(cut.end, 3))  # fmt: skip
        began = time.monotonic()
        try:
            done = await self.renderer.render(
                source, video, layout, cut=cut, key=key, on_progress=progress
            )
        except OutputWriteFailed as exc:
            self._write_failed = True
            again = f"tried again in {self.write_retry:.0f} s"
            await self._problem(where, f"entry {w.number}: render not written ({again}): {exc}")
            return False
        except AtroposError as exc:
            await self._problem(where, f"entry {w.number}: render failed: {exc}")
            return False
        spent = time.monotonic() - began
        log.info("render_done", output=str(video), key=key, encoder=done.encoder,
                 seconds=round(spent, 2), speed=round(cut.length / spent, 2) if spent else None,
                 silent=done.silent)  # fmt: skip
        return True


def _still_wanted(folder: Path, src: tuple[Path, FileIdentity], w: Window) -> bool:
    """After a render: the manifest still asks for this entry, of the same source file."""
    try:
        manifest = read_manifest(folder / MANIFEST)
        if find_source(folder, manifest.source) != src[0] or FileIdentity.of(src[0]) != src[1]:
            return False
    except (InputError, OSError):
        return False
    for item in manifest.entries:
        with contextlib.suppress(ValueError):
            if Entry.model_validate(item) == w.entry:
                return True
    return False


def _sweep_temps(shorts: Path) -> None:
    """Remove the hidden temp files a killed daemon left in ``shorts/`` (a render's
    ``.<stem>.<token>.part.mp4``, a caption's ``.<name>.part``): no render of this job runs in
    the folder now, and the window they were for may no longer be asked for (never cleaned)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for p in shorts.glob(".*.part*"):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _drop_stale(shorts: Path, w: Window) -> None:
    """Remove a render the manifest no longer asks for (before the watcher takes it: it waits
    for the folder to settle); its caption and sidecar too (the next scan writes what is new)."""
    for suffix in (".mp4", ".txt", ".json"):
        (shorts / f"{w.stem}{suffix}").unlink(missing_ok=True)


class RenderSettings(Protocol):
    """The settings the manifest job reads (``config.Settings`` has them)."""

    @property
    def out_root(self) -> Path: ...

    @property
    def state_dir(self) -> Path: ...

    @property
    def render_cache_dir(self) -> Path | None: ...

    @property
    def layouts_dir(self) -> Path | None: ...

    @property
    def render_layout(self) -> str: ...

    @property
    def render_encoder(self) -> str: ...

    @property
    def window_context_percentage(self) -> float: ...

    @property
    def settle_seconds(self) -> float: ...


def manifest_job(
    s: RenderSettings,
    accounts: Callable[[], Mapping[str, object]],
    bus: Bus,
    on_problem: Problem,
) -> Manifests:
    """The daemon's manifest job from its settings (``LayoutError`` for a bad layout setup)."""

    def account_layout(name: str) -> str | None:
        layout = getattr(accounts().get(name), "layout", None)
        return layout if isinstance(layout, str) else None

    return Manifests(
        out_root=s.out_root,
        cache_dir=(s.render_cache_dir or s.state_dir / "renders") / "manifests",
        layouts=Layouts.load(s.layouts_dir, s.render_layout),
        account_layout=account_layout,
        renderer=Renderer(Encoder(s.render_encoder)),
        bus=bus,
        on_problem=on_problem,
        context=s.window_context_percentage,
        settle=s.settle_seconds,
        interval=max(0.5, s.settle_seconds),
    )
