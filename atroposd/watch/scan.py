"""Looking at the disk: a cheap recursive scan and a one-path inspection. Blocking; use a thread.

Only ``scandir`` and ``stat`` here, never file contents. Hidden folders are not entered,
symlinked folders are never followed (their real location is scanned in its own right, or
they point outside and are reported), file symlinks count only when their target lies inside
a watched root. Problems are returned for videos only; a caption alone is never reported.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from atroposd.watch.pairing import FileState, Kind, classify
from atroposd.watch.roots import SYMLINK_OUTSIDE, Rejected, Roots

log = structlog.get_logger(__name__)


@dataclass
class Findings:
    """What a scan or an inspection saw: states (None = gone) and problems."""

    states: dict[Path, FileState | None] = field(default_factory=dict)
    problems: list[tuple[Path, str]] = field(default_factory=list)

    def merge(self, other: Findings) -> None:
        """Add another scan's findings to this one."""
        self.states.update(other.states)
        self.problems.extend(other.problems)


def file_state(st: os.stat_result) -> FileState:
    """The part of a stat the pairing looks at."""
    return FileState(st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class Scanner:
    """Turns paths and folders into ``Findings`` under the rules of ``Roots``."""

    def __init__(self, roots: Roots) -> None:
        self.roots = roots

    def scan_all(self, skip: Collection[Path] = ()) -> Findings:
        """Scan every root that exists, except those in ``skip`` (known to be unavailable)."""
        found = Findings()
        for root in self.roots.paths:
            if root not in skip and root.is_dir():
                found.merge(self.scan_dir(root))
        return found

    def scan_dir(self, top: Path) -> Findings:
        """Every relevant file below ``top`` (iterative, so deep trees cannot overflow)."""
        found = Findings()
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                log.warning("watch_scan_dir_failed", path=str(folder), error=str(exc))
                continue
            for entry in entries:
                sub = self._entry(folder, entry, found)
                if sub is not None:
                    stack.append(sub)
        return found

    def _entry(self, folder: Path, entry: os.DirEntry[str], found: Findings) -> Path | None:
        """Record one directory entry; return it when it is a folder to descend into."""
        name = entry.name
        if name.startswith("."):
            return None
        if entry.is_symlink():
            self._symlink(folder / name, found)
            return None
        if entry.is_dir(follow_symlinks=False):
            path = folder / name
            return None if path in self.roots.paths else path  # a nested root scans itself
        kind = classify(name)
        if kind is None or not entry.is_file(follow_symlinks=False):
            return None
        path = folder / name
        if self._wanted(path, kind, found):
            try:
                found.states[path] = file_state(entry.stat(follow_symlinks=False))
            except FileNotFoundError:
                found.states[path] = None
            except OSError as exc:
                found.problems.append((path, f"cannot read: {exc.strerror or exc}"))
        return None

    def inspect(self, path: Path, is_dir: bool = False) -> Findings:
        """Look at one path an event named: a file, a folder (scanned) or nothing any more."""
        found = Findings()
        if self._hidden(path):
            return found
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            found.states[path] = None
            return found
        except OSError as exc:
            log.warning("watch_stat_failed", path=str(path), error=str(exc))
            return found
        if stat.S_ISDIR(st.st_mode):
            return self.scan_dir(path)
        if stat.S_ISLNK(st.st_mode):
            self._symlink(path, found)
        elif stat.S_ISREG(st.st_mode) and self._wanted(path, classify(path.name), found):
            found.states[path] = file_state(st)
        return found

    def _symlink(self, path: Path, found: Findings) -> None:
        """A symlink counts only when its target is a file inside the watched roots."""
        try:
            real = Path(os.path.realpath(path))
            is_dir = real.is_dir()
        except OSError as exc:  # e.g. a target in a folder we may not enter
            found.problems.append((path, f"unusable symlink: {exc.strerror or exc}"))
            return
        if self.roots.outside(real):
            if is_dir or classify(path.name) is Kind.VIDEO:
                found.problems.append((path, SYMLINK_OUTSIDE))
            return
        if is_dir or not self._wanted(path, classify(path.name), found):
            return
        try:
            found.states[path] = file_state(os.stat(path))
        except FileNotFoundError:
            found.states[path] = None  # dangling
        except OSError as exc:  # a symlink loop, a target we may not read
            found.problems.append((path, f"unusable symlink: {exc.strerror or exc}"))

    def _wanted(self, path: Path, kind: Kind | None, found: Findings) -> bool:
        """True for a caption, sidecar or video with a valid location; records rejections."""
        if kind is None:
            return False
        where = self.roots.locate(path)
        if isinstance(where, Rejected):
            if kind is Kind.VIDEO:
                found.problems.append((path, where.reason))
            return False
        return where is not None

    def _hidden(self, path: Path) -> bool:
        root = self.roots.root_of(path)
        if root is None:
            return True
        return any(p.startswith(".") for p in path.relative_to(root.path).parts)
