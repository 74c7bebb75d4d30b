"""Debounce and pairing: when is a ``video.mp4`` + ``video.txt`` pair ready? Pure, no threads.

The watcher feeds observations (a path and its ``FileState``, or None when it is gone) and
polls with the current monotonic time. A pair is ready when:

* the video and its caption ``<stem>.txt`` exist (the sidecar ``<stem>.json`` is optional),
* every one of them (the sidecar too when present) has been quiet for ``settle_seconds``:
  its (inode, size, mtime_ns) unchanged, and no write for that long. The time of the last
  write is estimated from max(mtime, ctime) at first sight, so a file untouched for a while
  is ready at once, and from the observation itself when it changes afterwards,
* none of them is open for writing: the watcher passes on inotify's signals (``written``): a
  modify with no close-after-write since means a writer still has the file open, whatever
  its size and times say,
* the injected video check (``mp4_check``) passes. A fragmented video that does not prove its
  own end (``open_ended``: no trailing ``mfra``, no ``mehd`` its fragments reach) must also
  have been quiet for ``fragmented_settle_seconds``, whether or not its writer's
  close-after-write was seen: a copy written in two parts (``curl -C -``, ``wget -c``,
  ``cat seg >> out.mp4``) closes the file at a fragment boundary and appends the rest later.
  A fragmented video that proves its end needs only ``settle_seconds``; one whose ``mehd``
  declares more than its fragments cover fails the check (``video incomplete``, never ready).

Problems are reported once per (path, reason) until the path disappears, then the video is
parked until one of its files changes:

* ``empty video`` / ``empty caption: <stem>.txt`` (0 bytes once quiet),
* ``caption missing: expected <stem>.txt`` (the video becomes ready when the caption comes;
  not reported when the caption of an already emitted pair goes away, as archiving does),
* ``video incomplete: <why>`` when the video stays quiet but fails the check for
  ``incomplete_seconds`` (default max(10 × settle, 30 s)); until then it counts as still
  being written.

A pair is emitted again only when one of its files changed (a sidecar appearing later counts).
Caption and sidecar names are matched exactly (``.txt``, ``.json``); video suffixes ignore case.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from atroposd.domain import CAPTION_SUFFIX, SIDECAR_SUFFIX, VIDEO_SUFFIXES, FileIdentity
from atroposd.watch.mp4 import Mp4Check

_TEMP_SUFFIXES = (".part", ".tmp", ".crdownload", "~")
_TEMP_PREFIXES = (".", "~$", "~syncthing~")


class Kind(Enum):
    """What a file is to the watcher."""

    VIDEO = "video"
    CAPTION = "caption"
    SIDECAR = "sidecar"


def is_ignored_name(name: str) -> bool:
    """True for hidden and temporary names (rsync, Syncthing, browsers, editors, Office)."""
    lower = name.lower()
    return lower.startswith(_TEMP_PREFIXES) or lower.endswith(_TEMP_SUFFIXES)


def classify(name: str) -> Kind | None:
    """The kind of a file by its name, or None when the watcher does not care about it."""
    if is_ignored_name(name):
        return None
    suffix = os.path.splitext(name)[1]
    if suffix.lower() in VIDEO_SUFFIXES:
        return Kind.VIDEO
    if suffix == CAPTION_SUFFIX:
        return Kind.CAPTION
    if suffix == SIDECAR_SUFFIX:
        return Kind.SIDECAR
    return None


@dataclass(frozen=True)
class FileState:
    """What a stat told us about one file."""

    size: int
    mtime_ns: int
    ino: int = 0
    ctime_ns: int = 0

    @property
    def identity(self) -> FileIdentity:
        """Changes when the content may have changed (ctime alone does not count)."""
        return FileIdentity(self.size, self.mtime_ns, self.ino)

    def age(self, wall: float) -> float:
        """Seconds since the last write or metadata change, never negative."""
        return max(0.0, wall - max(self.mtime_ns, self.ctime_ns) / 1e9)


@dataclass(frozen=True)
class Ready:
    """A pair whose files are complete and quiet."""

    video: Path
    caption: Path
    sidecar: Path | None


@dataclass(frozen=True)
class Problem:
    """Something the user should fix; reported once."""

    path: Path
    reason: str


Decision = Ready | Problem
VideoCheck = Callable[[Path], Mp4Check]
_PairId = tuple[FileIdentity, ...]
_ABSENT = FileIdentity(0, 0, 0)  # a file of the pair that is not there


@dataclass
class _Tracked:
    state: FileState
    quiet_since: float  # monotonic time of the last write we know of


class _Wait(Enum):
    WAIT = "wait"


class Pairing:
    """The debounce + pairing state machine; one instance per watcher."""

    def __init__(
        self,
        settle_seconds: float = 2.0,
        incomplete_seconds: float | None = None,
        fragmented_settle_seconds: float = 30.0,
    ):
        self.settle_seconds = settle_seconds
        self.incomplete_seconds = (
            incomplete_seconds if incomplete_seconds is not None else max(10 * settle_seconds, 30)
        )
        self.fragmented_settle_seconds = fragmented_settle_seconds
        self._writes: dict[Path, bool] = {}  # True: open for writing; False: closed after write
        self._held: dict[Path, bool] = {}  # quiet videos a writer holds open -> told the caller
        self._open_ended: dict[Path, bool] = {}  # waiting the fragmented settle -> told
        self._files: dict[Path, _Tracked] = {}
        self._by_stem: dict[Path, set[Path]] = {}  # <dir>/<stem> -> videos
        self._dirty: set[Path] = set()  # videos to evaluate at the next poll
        self._emitted: dict[Path, _PairId] = {}
        self._retry: set[Path] = set()
        self._checked: dict[Path, tuple[FileIdentity, Mp4Check]] = {}
        self._reported: set[tuple[Path, str]] = set()

    def observe(self, path: Path, state: FileState | None, *, mono: float, wall: float) -> None:
        """Record what a stat of ``path`` found (None: the file is gone)."""
        kind = classify(path.name)
        if kind is None:
            return
        old = self._files.get(path)
        if state is None:
            if old is not None:
                self._forget(path, kind)
            return
        if old is not None and old.state.identity == state.identity:
            old.state = state
            return
        self._files[path] = _Tracked(state, mono - state.age(wall))
        self._open_ended.pop(path, None)
        if kind is Kind.VIDEO:
            self._by_stem.setdefault(path.with_suffix(""), set()).add(path)
            self._dirty.add(path)
        else:
            self._dirty.update(self._by_stem.get(path.with_suffix(""), ()))

    def written(self, path: Path, writing: bool | None) -> None:
        """What inotify said last about a tracked file: True a modify (a writer has it open),
        False a close-after-write, None a new file at this path (created, moved in: unknown)."""
        kind = classify(path.name)
        if kind is None or path not in self._files:
            return
        if writing is None:
            self._writes.pop(path, None)
        else:
            self._writes[path] = writing
        if not writing:
            self._held.pop(path, None)
        stem = path.with_suffix("")
        self._dirty.update((path,) if kind is Kind.VIDEO else self._by_stem.get(stem, ()))

    def forget_writes(self, under: Collection[Path]) -> None:
        """Events were lost below these folders (overflow, watch re-added): their files'
        writers are unknown now."""
        for path in [p for p in self._writes if any(p.is_relative_to(u) for u in under)]:
            del self._writes[path]
            self._held.pop(path, None)
            self._dirty.update(self._by_stem.get(path.with_suffix(""), ()))

    def take_held(self) -> list[Path]:
        """Videos found quiet for the settle period but still open for writing, each once
        (until its writer closes it): worth a log line, since nothing else happens."""
        new = [path for path, told in self._held.items() if not told]
        self._held.update(dict.fromkeys(new, True))
        return new

    def take_open_ended(self) -> list[Path]:
        """Videos quiet for the settle period that must wait ``fragmented_settle_seconds``
        (fragmented, nothing proves their end), each once per content: worth a log line."""
        new = [path for path, told in self._open_ended.items() if not told]
        self._open_ended.update(dict.fromkeys(new, True))
        return new

    def writing_paths(self) -> set[Path]:
        """The files a writer still has open, as far as the events tell."""
        return {path for path, writing in self._writes.items() if writing}

    def _forget(self, path: Path, kind: Kind) -> None:
        del self._files[path]
        self._writes.pop(path, None)
        self._held.pop(path, None)
        self._open_ended.pop(path, None)
        self._reported = {r for r in self._reported if r[0] != path}
        stem = path.with_suffix("")
        if kind is Kind.VIDEO:
            videos = self._by_stem.get(stem, set())
            videos.discard(path)
            if not videos:
                self._by_stem.pop(stem, None)
            for table in (self._emitted, self._checked):
                table.pop(path, None)
            self._dirty.discard(path)
            self._retry.discard(path)
        else:
            self._dirty.update(self._by_stem.get(stem, ()))

    def known_paths(self) -> set[Path]:
        """Every path currently tracked (to notice files a rescan no longer finds)."""
        return set(self._files)

    def pending_paths(self) -> set[Path]:
        """Paths worth a fresh stat before the next poll: the files of undecided pairs."""
        out: set[Path] = set()
        for video in self._dirty:
            out.update(
                (video, video.with_suffix(CAPTION_SUFFIX), video.with_suffix(SIDECAR_SUFFIX))
            )
        return out

    def has_pending(self) -> bool:
        """True while some pair is still undecided (the watcher then polls often)."""
        return bool(self._dirty)

    def retract(self, video: Path) -> None:
        """Forget that ``video`` was emitted (its consumer failed); ``rearm`` retries it."""
        self._emitted.pop(video, None)
        self._retry.add(video)

    def rearm(self) -> None:
        """Evaluate retracted videos again (called on each full rescan)."""
        self._dirty.update(v for v in self._retry if v in self._files)
        self._retry.clear()

    def poll(self, mono: float, check: VideoCheck) -> list[Decision]:
        """Decide every undecided pair; each Ready or Problem is returned once."""
        out: list[Decision] = []
        for video in sorted(self._dirty):
            decision = self._evaluate(video, mono, check)
            if decision is _Wait.WAIT:
                continue
            self._dirty.discard(video)
            if isinstance(decision, Problem):
                key = (decision.path, decision.reason)
                if key in self._reported:
                    continue
                self._reported.add(key)
            if decision is not None:
                out.append(decision)
        return out

    def _quiet(self, path: Path, tracked: _Tracked, mono: float) -> bool:
        if self._writes.get(path):
            return False  # a writer has it open: never ready, however long it pauses
        return mono - tracked.quiet_since >= self.settle_seconds

    def _evaluate(self, video: Path, mono: float, check: VideoCheck) -> Decision | _Wait | None:
        v = self._files[video]
        if self._writes.get(video) and mono - v.quiet_since >= self.settle_seconds:
            self._held.setdefault(video, False)
        if not self._quiet(video, v, mono):
            return _Wait.WAIT
        if v.state.size == 0:
            return Problem(video, "empty video")
        found = self._check(video, v.state, check)
        if found.problem is not None:
            if mono - v.quiet_since >= self.incomplete_seconds:
                return Problem(video, f"video incomplete: {found.problem}")
            return _Wait.WAIT
        if found.open_ended and mono - v.quiet_since < self.fragmented_settle_seconds:
            self._open_ended.setdefault(video, False)
            return _Wait.WAIT  # closed or not, more fragments may be appended: only time tells
        caption_path = video.with_suffix(CAPTION_SUFFIX)
        caption = self._files.get(caption_path)
        if caption is None:
            if video in self._emitted:
                return None  # a published pair being archived, not a user's mistake
            return Problem(video, f"caption missing: expected {caption_path.name}")
        if not self._quiet(caption_path, caption, mono):
            return _Wait.WAIT
        if caption.state.size == 0:
            return Problem(caption_path, f"empty caption: {caption_path.name}")
        sidecar_path = video.with_suffix(SIDECAR_SUFFIX)
        sidecar = self._files.get(sidecar_path)
        if sidecar is not None and not self._quiet(sidecar_path, sidecar, mono):
            return _Wait.WAIT
        pair = _pair_id(v, caption, sidecar)
        if self._emitted.get(video) == pair:
            return None  # already emitted with these exact files
        self._emitted[video] = pair
        return Ready(video, caption_path, sidecar_path if sidecar is not None else None)

    def _check(self, video: Path, state: FileState, check: VideoCheck) -> Mp4Check:
        cached = self._checked.get(video)
        if cached is not None and cached[0] == state.identity:
            return cached[1]
        found = check(video)
        self._checked[video] = (state.identity, found)
        return found


def _pair_id(*files: _Tracked | None) -> _PairId:
    return tuple(f.state.identity if f is not None else _ABSENT for f in files)
