"""``ClipWatcher``: the async façade the daemon uses to learn about ready clips.

Three sources feed one pairing state machine: inotify events (``observer.py``), a full scan
at start-up and every ``rescan_seconds`` (events can be lost, §1.4), and a fresh stat of the
files of every undecided pair every ``POLL_SECONDS`` (the event filter drops ``modified``, so
a slow writer is followed by polling). All disk work runs in a worker thread, one step at a
time; the pairing and the roots are only touched by that step.

``on_ready`` gets each ready pair once (again only when one of its files changed); if it
raises, the error is logged and the pair is offered again after the next full rescan.
``on_problem`` gets each (path, reason) once; a problem found by scanning is reported again
only after its path disappeared from a full scan and came back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from atroposd.clock import Clock
from atroposd.domain import ClipFiles
from atroposd.watch.mp4 import mp4_problem
from atroposd.watch.observer import FolderObserver
from atroposd.watch.pairing import Pairing, Problem, Ready
from atroposd.watch.roots import Roots
from atroposd.watch.scan import Findings, Scanner

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.25
OnReady = Callable[[ClipFiles], Awaitable[None]]
OnProblem = Callable[[Path, str], Awaitable[None]]
_Step = tuple[list[ClipFiles], list[tuple[Path, str]]]


def check_video(path: Path) -> str | None:
    """``mp4_problem`` with read errors turned into a reason (a vanished file is re-statted)."""
    try:
        return mp4_problem(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


class ClipWatcher:
    """Watches the upload folder and the output root; reports ready pairs and problems."""

    def __init__(
        self,
        *,
        upload_folder: Path,
        out_root: Path,
        default_account: str,
        on_ready: OnReady,
        on_problem: OnProblem,
        clock: Clock,
        settle_seconds: float = 2.0,
        rescan_seconds: float = 60.0,
        use_observer: bool = True,
        incomplete_seconds: float | None = None,
    ) -> None:
        self._roots = Roots(
            upload_folder=upload_folder, out_root=out_root, default_account=default_account
        )
        self._scanner = Scanner(self._roots)
        self._pairing = Pairing(settle_seconds, incomplete_seconds)
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._clock = clock
        self._rescan_seconds = rescan_seconds
        self._use_observer = use_observer
        self._touched: dict[Path, bool] = {}  # path -> is a folder; filled by the observer
        self._full_requested = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._scan_reported: set[tuple[Path, str]] = set()
        self._scans = 0
        self._observer: FolderObserver | None = None

    @property
    def roots(self) -> tuple[Path, ...]:
        """The folders being watched."""
        return self._roots.paths

    @property
    def scans_completed(self) -> int:
        """How many full scans have finished (start-up scan included)."""
        return self._scans

    async def run(self) -> None:
        """Watch until cancelled."""
        try:
            await self._start_observer()  # before the scan, so nothing slips in between
            log.info("watch_started", roots=[str(r) for r in self.roots])
            await self._step(full=True)
            next_full = self._clock.monotonic() + self._rescan_seconds
            while True:
                await self._idle(next_full)
                if self._observer is not None and not self._observer.alive:
                    log.error("watch_observer_died")
                    await self._stop_observer()
                    await self._start_observer()
                    self._full_requested = True
                full = self._full_requested or self._clock.monotonic() >= next_full
                if full:
                    self._full_requested = False
                    next_full = self._clock.monotonic() + self._rescan_seconds
                await self._step(full=full)
        finally:
            await self._stop_observer()
            log.info("watch_stopped")

    async def _start_observer(self) -> None:
        """Start inotify; without it (disabled, or e.g. out of inotify watches) rescans only."""
        if self._use_observer:
            observer = FolderObserver(
                self._roots.paths,
                loop=asyncio.get_running_loop(),
                notify=self._notify,
                on_overflow=self._overflowed,
            )
            try:
                await asyncio.to_thread(observer.start)
            except OSError as exc:
                log.error(
                    "watch_observer_failed", error=str(exc), rescan_seconds=self._rescan_seconds
                )
                await asyncio.to_thread(observer.stop)
            else:
                self._observer = observer
                return
        await asyncio.to_thread(self._make_roots)

    async def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            await asyncio.to_thread(observer.stop)

    async def scan_once(self) -> list[ClipFiles]:
        """One full pass: the pairs ready now; problems are reported through ``on_problem``.

        Quiet is judged by the files' own max(mtime, ctime) against the clock, so files
        untouched for ``settle_seconds`` are ready at once, without waiting.

        ``on_ready`` is not called: the caller handles what is returned. A pair returned here
        is not returned again by this watcher unless its files change.
        """
        await asyncio.to_thread(self._make_roots)
        async with self._lock:
            ready, problems = await asyncio.to_thread(self._compute, {}, True)
            await self._report(problems)
        return ready

    def request_rescan(self) -> None:
        """Ask for a full rescan as soon as possible."""
        log.info("watch_rescan_requested")
        self._full_requested = True
        self._wake.set()

    def _overflowed(self) -> None:
        log.warning("watch_events_lost", cause="inotify queue overflow")
        self.request_rescan()

    def _notify(self, path: Path, is_dir: bool) -> None:
        self._touched[path] = self._touched.get(path, False) or is_dir
        self._wake.set()

    def _make_roots(self) -> None:
        for root in self._roots.paths:
            root.mkdir(parents=True, exist_ok=True)

    async def _idle(self, next_full: float) -> None:
        """Wait for an event, the next poll of pending pairs, or the next full rescan."""
        self._wake.clear()
        if self._touched or self._full_requested:
            return
        if self._pairing.has_pending():
            timeout = POLL_SECONDS
        else:
            timeout = max(0.0, next_full - self._clock.monotonic())
        try:
            async with asyncio.timeout(timeout):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _step(self, *, full: bool) -> None:
        """One pass; a failure is logged and the periodic full rescan tries again."""
        try:
            await self._pass(full=full)
        except Exception as exc:  # supervisor: one bad entry must not stop the watching
            log.exception("watch_pass_failed", error=str(exc))

    async def _pass(self, *, full: bool) -> None:
        async with self._lock:
            touched, self._touched = self._touched, {}
            ready, problems = await asyncio.to_thread(self._compute, touched, full)
            await self._report(problems)
            for clip in ready:
                await self._deliver(clip)

    async def _deliver(self, clip: ClipFiles) -> None:
        log.info("watch_clip_ready", clip=clip.rel, account=clip.account, root=str(clip.root))
        try:
            await self._on_ready(clip)
        except Exception:
            log.exception("watch_on_ready_failed", clip=clip.rel, account=clip.account)
            self._pairing.retract(clip.video)

    async def _report(self, problems: list[tuple[Path, str]]) -> None:
        for path, reason in problems:
            log.debug("watch_problem", path=str(path), reason=reason)
            try:
                await self._on_problem(path, reason)
            except Exception:
                log.exception("watch_on_problem_failed", path=str(path), reason=reason)

    def _compute(self, touched: dict[Path, bool], full: bool) -> _Step:
        """Look at the disk, update the pairing, decide. Runs in a worker thread."""
        started = self._clock.monotonic()
        found = Findings()
        if full:
            found.merge(self._scanner.scan_all())
            for path in self._pairing.known_paths() - found.states.keys():
                found.merge(self._scanner.inspect(path))  # gone, or created after its folder
        for path, is_dir in touched.items():
            found.merge(self._scanner.inspect(path, is_dir))
        for path in self._pairing.pending_paths() - found.states.keys():
            found.merge(self._scanner.inspect(path))
        mono, wall = self._clock.monotonic(), self._clock.now().timestamp()
        for path, state in found.states.items():
            self._pairing.observe(path, state, mono=mono, wall=wall)
        if full:
            self._pairing.rearm()
        ready, problems = self._decide(mono)
        problems = self._new_scan_problems(found.problems, full) + problems
        if full:
            self._scans += 1
            log.debug(
                "watch_rescan_done",
                paths=len(found.states),
                seconds=round(self._clock.monotonic() - started, 3),
            )
        return ready, problems

    def _decide(self, mono: float) -> _Step:
        ready: list[ClipFiles] = []
        problems: list[tuple[Path, str]] = []
        for decision in self._pairing.poll(mono, check_video):
            if isinstance(decision, Problem):
                problems.append((decision.path, decision.reason))
                continue
            assert isinstance(decision, Ready)
            clip = self._roots.clip_files(decision.video, decision.caption, decision.sidecar)
            if clip is not None:
                ready.append(clip)
        return ready, problems

    def _new_scan_problems(
        self, problems: list[tuple[Path, str]], full: bool
    ) -> list[tuple[Path, str]]:
        current = set(problems)
        new = [p for p in dict.fromkeys(problems) if p not in self._scan_reported]
        self._scan_reported = current if full else self._scan_reported | current
        return new
