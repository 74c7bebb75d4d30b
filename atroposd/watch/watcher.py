"""``ClipWatcher``: the async façade the daemon uses to learn about ready clips.

Three sources feed one pairing state machine: inotify events (``observer.py``), a full scan
at start-up and every ``rescan_seconds`` (events can be lost, §1.4), and a fresh stat of the
files of every undecided pair every ``POLL_SECONDS`` (a slow writer is followed by polling;
only its first ``modified`` wakes the watcher, and its ``closed`` ends "open for writing").
Every ``FOLDER_RECHECK_SECONDS`` (every ``FOLDER_CHECK_SECONDS`` while one is away) the roots
themselves are checked (``folders.py``): a folder that
went away is logged once and waited for, one that came back is watched again and rescanned.
All disk work runs in a worker thread, one step at a time; the pairing, the roots and the
folders are only touched by that step.

``run`` never raises for a folder: a root that cannot be created, listed or watched is
logged and the others go on; without inotify at all, full rescans alone find the clips.

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
from atroposd.watch.folders import FOLDER_CHECK_SECONDS, FOLDER_RECHECK_SECONDS, Folders
from atroposd.watch.mp4 import Mp4Check, mp4_check
from atroposd.watch.observer import FolderObserver
from atroposd.watch.pairing import Pairing, Problem, Ready, classify
from atroposd.watch.roots import Roots
from atroposd.watch.scan import Findings, Scanner

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.25
_MAX_OPEN = 10_000
OnReady = Callable[[ClipFiles], Awaitable[None]]
OnProblem = Callable[[Path, str], Awaitable[None]]
_Step = tuple[list[ClipFiles], list[tuple[Path, str]]]


def check_video(path: Path) -> Mp4Check:
    """``mp4_check`` with read errors turned into a reason (a vanished file is re-statted)."""
    try:
        return mp4_check(path)
    except OSError as exc:
        return Mp4Check(f"unreadable: {exc.strerror or exc}")


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
        fragmented_settle_seconds: float = 30.0,
    ) -> None:
        self._roots = Roots(
            upload_folder=upload_folder, out_root=out_root, default_account=default_account
        )
        self._scanner = Scanner(self._roots)
        self._folders = Folders(self._roots.paths)
        self._pairing = Pairing(settle_seconds, incomplete_seconds, fragmented_settle_seconds)
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._clock = clock
        self._rescan_seconds = rescan_seconds
        self._use_observer = use_observer
        self._touched: dict[Path, bool] = {}  # path -> is a folder; filled by the observer
        self._writes: dict[Path, bool | None] = {}  # file -> its last event's writer signal
        self._open: set[Path] = set()  # files whose last event was a modify (loop's view)
        self._events_lost: set[Path] = set()  # roots whose events (writers' closes) were lost
        self._full_requested = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._scan_reported: set[tuple[Path, str]] = set()
        self._scans = 0
        self._observer: FolderObserver | None = None
        # Set once the start-up scan and the deliveries it made are done (the daemon's READY).
        self.started = asyncio.Event()

    @property
    def roots(self) -> tuple[Path, ...]:
        """The folders being watched."""
        return self._roots.paths

    @property
    def scans_completed(self) -> int:
        """How many full scans have finished (start-up scan included)."""
        return self._scans

    @property
    def unavailable_folders(self) -> tuple[Path, ...]:
        """The watched roots that are not there right now (waited for, checked every second)."""
        return self._folders.unavailable

    @property
    def open_for_writing(self) -> frozenset[Path]:
        """Files whose last inotify event was a write with no close-after-write since."""
        return frozenset(self._open)

    async def run(self) -> None:
        """Watch until cancelled; a folder that is missing or goes away never ends this."""
        try:
            await asyncio.to_thread(self._folders.create_missing)
            await self._start_observer()
            await self._check_folders()  # watches before the scan, so nothing slips in between
            log.info("watch_started", roots=[str(r) for r in self.roots])
            await self._step(full=True)
            self.started.set()
            next_full = self._clock.monotonic() + self._rescan_seconds
            next_check = self._clock.monotonic() + self._check_every()
            while True:
                await self._idle(min(next_full, next_check))
                now = self._clock.monotonic()
                full = self._full_requested or now >= next_full
                if full or now >= next_check:
                    full = await self._check_folders(retry_refused=full) or full
                    next_check = self._clock.monotonic() + self._check_every()
                if full:
                    self._full_requested = False
                    next_full = self._clock.monotonic() + self._rescan_seconds
                if full or self._touched or self._events_lost or self._pairing.has_pending():
                    await self._step(full=full)
        finally:
            await self._stop_observer()
            log.info("watch_stopped")

    def _check_every(self) -> float:
        """Every second while a root is away (watched again within a second of coming back);
        every FOLDER_RECHECK_SECONDS while all are there: the check is most of the idle
        daemon's CPU (bench/idle.py)."""
        return FOLDER_CHECK_SECONDS if self._folders.unavailable else FOLDER_RECHECK_SECONDS

    async def _start_observer(self) -> None:
        """Start inotify's threads; without them (disabled, or failed) full rescans only."""
        if not self._use_observer:
            return
        observer = FolderObserver(
            loop=asyncio.get_running_loop(), notify=self._notify, on_overflow=self._overflowed
        )
        try:
            await asyncio.to_thread(observer.start)
        except Exception as exc:  # supervisor: rescans still find every clip
            log.error("watch_observer_failed", error=str(exc), rescan_seconds=self._rescan_seconds)
            await asyncio.to_thread(observer.stop)
        else:
            self._observer = observer

    async def _check_folders(self, retry_refused: bool = False) -> bool:
        """Check the roots and their watches (restarting a dead observer); True when a full
        rescan is due. Never raises: a failure is logged and the next check tries again."""
        try:
            async with self._lock:
                if self._observer is not None and not self._observer.alive:
                    log.error("watch_observer_died")
                    await self._stop_observer()
                    await self._start_observer()
                    self._events_lost.update(self.roots)
                observer = self._observer
                back = await asyncio.to_thread(self._folders.sync, observer, retry_refused)
                self._events_lost |= back  # what was written there while unwatched is unknown
                return bool(back)
        except Exception as exc:  # supervisor: a folder problem must not stop the watching
            log.exception("watch_folder_check_failed", error=str(exc))
            return False

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
        async with self._lock:
            await asyncio.to_thread(self._folders.create_missing)
            await asyncio.to_thread(self._folders.sync, None)
            ready, problems = await asyncio.to_thread(self._compute, {}, {}, True)
            await self._report(problems)
        return ready

    def request_rescan(self) -> None:
        """Ask for a full rescan as soon as possible."""
        log.info("watch_rescan_requested")
        self._full_requested = True
        self._wake.set()

    def _overflowed(self) -> None:
        log.warning("watch_events_lost", cause="inotify queue overflow")
        self._events_lost.update(self.roots)
        self.request_rescan()

    def _notify(self, path: Path, is_dir: bool, writing: bool | None) -> None:
        if not is_dir:
            if writing and (path in self._open or classify(path.name) is None):
                return  # one more write of a file being written (polling follows it), or a temp
            if len(self._open) >= _MAX_OPEN:
                self._open.clear()  # files deleted while open are never closed under their name
            if writing:
                self._open.add(path)
            else:
                self._open.discard(path)
            self._writes[path] = writing
        self._touched[path] = self._touched.get(path, False) or is_dir
        self._wake.set()

    async def _idle(self, deadline: float) -> None:
        """Wait for an event, the next poll of pending pairs, or the next check or rescan."""
        self._wake.clear()
        if self._touched or self._full_requested:
            return
        if self._pairing.has_pending():
            timeout = POLL_SECONDS
        else:
            timeout = max(0.0, deadline - self._clock.monotonic())
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
            writes, self._writes = self._writes, {}
            lost, self._events_lost = self._events_lost, set()
            ready, problems = await asyncio.to_thread(
                self._compute, touched, writes, full, frozenset(lost)
            )
            if full:  # forget files gone while open (their close never comes under that name)
                writing = self._pairing.writing_paths()
                self._open = {p for p in self._open if p in writing or p in self._writes}
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

    def _compute(
        self,
        touched: dict[Path, bool],
        writes: dict[Path, bool | None],
        full: bool,
        lost: frozenset[Path] = frozenset(),
    ) -> _Step:
        """Look at the disk, update the pairing, decide. Runs in a worker thread. ``lost``:
        roots whose events were lost (their files' writers are unknown now)."""
        started = self._clock.monotonic()
        if lost:
            self._pairing.forget_writes(lost)
        down = frozenset(self._folders.unavailable)
        found = Findings()
        if full:
            found.merge(self._scanner.scan_all(skip=down))
            for path in self._pairing.known_paths() - found.states.keys():
                found.merge(self._inspect(path, False, down))  # gone, or created after its folder
        for path, is_dir in touched.items():
            found.merge(self._inspect(path, is_dir, down))
        for path in self._pairing.pending_paths() - found.states.keys():
            found.merge(self._inspect(path, False, down))
        mono, wall = self._clock.monotonic(), self._clock.now().timestamp()
        for path, state in found.states.items():
            self._pairing.observe(path, state, mono=mono, wall=wall)
        for path, writing in writes.items():
            if found.states.get(path) is not None:
                self._pairing.written(path, writing)
        if full:
            self._pairing.rearm()
        ready, problems = self._decide(mono)
        self._log_waits()
        problems = self._new_scan_problems(found.problems, full) + problems
        if full:
            self._scans += 1
            log.debug(
                "watch_rescan_done",
                paths=len(found.states),
                seconds=round(self._clock.monotonic() - started, 3),
            )
        return ready, problems

    def _log_waits(self) -> None:
        """One line per video that waits for more than the settle period, and why."""
        for path in self._pairing.take_held():
            log.info("watch_waiting_for_writer", path=str(path), reason="still open for writing")
        for path in self._pairing.take_open_ended():
            log.info(
                "watch_waiting_for_end",
                path=str(path),
                reason="fragmented MP4 with no mfra and no mehd: nothing proves its end",
                quiet_seconds=self._pairing.fragmented_settle_seconds,
            )

    def _inspect(self, path: Path, is_dir: bool, down: frozenset[Path]) -> Findings:
        """``Scanner.inspect``, except under a root that is gone: no stat, the file is gone."""
        root = self._roots.root_of(path)
        if root is not None and root.path in down:
            return Findings(states={path: None})
        return self._scanner.inspect(path, is_dir)

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
