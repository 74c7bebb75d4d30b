"""Are the watched folders there, and is each one watched? Blocking; the watcher's thread.

A watched root can go away while the daemon runs (a drive unmounted, the folder deleted or
renamed, replaced by a file) and come back (remounted, recreated). ``Folders.sync`` is called
every ``FOLDER_CHECK_SECONDS``: it stats each root and compares its (device, inode) with the
one being watched, so a folder that came back, or another folder now at that path (mounted
over, recreated), gets a fresh watch and the caller a full rescan; a watch whose emitter died
(IN_DELETE_SELF stops it) is re-added the same way.

Going away is logged once per root (``watch_folder_unavailable``, naming the folder and why)
and coming back once (``watch_folder_available``). Nothing here raises for a folder: the other
roots go on being watched. Roots are created only at start-up (``create_missing``); a root
that disappears later is waited for, never recreated (that would write to the disk under an
unmounted drive's mount point).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog

from atroposd.watch.observer import FolderObserver

log = structlog.get_logger(__name__)

FOLDER_CHECK_SECONDS = 1.0
FOLDER_RECHECK_SECONDS = 5.0  # all roots there: one gone or mounted over is seen within this
FolderId = tuple[int, int]


def folder_id(path: Path) -> FolderId | str:
    """(st_dev, st_ino) of a folder we can list, else why it cannot be watched."""
    try:
        st = os.stat(path)
        if not stat.S_ISDIR(st.st_mode):
            return "not a folder"
        with os.scandir(path):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return (st.st_dev, st.st_ino)


class Folders:
    """The roots' availability and their watches; all methods block (call from a thread)."""

    def __init__(self, roots: tuple[Path, ...]) -> None:
        self.roots = roots
        self._ids: dict[Path, FolderId] = {}  # the folder each watch (or scan) is on
        self._down: dict[Path, str] = {}  # root -> why it is not there (logged once)
        self._unwatched: dict[Path, str] = {}  # there, but inotify refused it (logged once)

    @property
    def unavailable(self) -> tuple[Path, ...]:
        """The roots that are not there (or not folders we can list) right now."""
        return tuple(r for r in self.roots if r in self._down)

    def create_missing(self) -> None:
        """Create the roots that do not exist (start-up only); failures mark them down."""
        for root in self.roots:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._went_away(root, f"cannot create it: {exc.strerror or exc}")

    def sync(self, observer: FolderObserver | None, retry_refused: bool = False) -> set[Path]:
        """Check every root, (re)watch those that need it; the roots to rescan (a folder came
        back, or its watch was re-established: events since then may be missing)."""
        rescan: set[Path] = set()
        for root in self.roots:
            found = folder_id(root)
            if isinstance(found, str):
                self._went_away(root, found)
                if observer is not None:
                    observer.unwatch(root)
                self._ids.pop(root, None)
                continue
            before, self._ids[root] = self._ids.get(root), found
            if self._down.pop(root, None) is not None:
                log.info("watch_folder_available", folder=str(root))
                rescan.add(root)
            elif before not in (None, found):
                log.info("watch_folder_replaced", folder=str(root))
                rescan.add(root)
            # A watch re-added on a folder we had: what happened in between is unseen.
            if (
                observer is not None
                and self._needs_watch(root, observer, before, retry_refused)
                and self._watch(root, observer)
                and before is not None
            ):
                rescan.add(root)
        return rescan

    def _needs_watch(
        self, root: Path, observer: FolderObserver, before: FolderId | None, retry: bool
    ) -> bool:
        if root in self._unwatched and not retry:
            return False  # inotify said no; retried at the next full rescan, not every second
        return before != self._ids[root] or not observer.watching(root)

    def _watch(self, root: Path, observer: FolderObserver) -> bool:
        """Add the watch; False (logged once per reason) when inotify refuses it."""
        try:
            observer.watch(root)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if self._unwatched.get(root) != why:
                log.error(
                    "watch_folder_not_watched", folder=str(root), error=why, fallback="rescans"
                )
            self._unwatched[root] = why
            return False
        self._unwatched.pop(root, None)
        return True

    def _went_away(self, root: Path, why: str) -> None:
        if root not in self._down:
            log.warning(
                "watch_folder_unavailable",
                folder=str(root),
                reason=why,
                action=f"other folders still watched; checked every {FOLDER_CHECK_SECONDS:g} s",
            )
        self._down[root] = why
