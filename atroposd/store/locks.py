"""Exclusive ``flock`` files: one daemon per state dir, and one per watched folder.

Two daemons with different ``STATE_DIR`` (the default is relative to the working directory)
watching the same ``UPLOAD_FOLDER`` each keep their own ledger, so each would post every clip:
a hidden ``.atroposd.lock`` in each watched folder stops the second one at start. The watcher
ignores hidden names, so that file is never taken for a clip.

The kernel drops a ``flock`` when its holder exits, however it exits (kill -9 included), so a
lock file left behind never blocks the next start.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import structlog

from atroposd.errors import LockedError

log = structlog.get_logger("atroposd")
FOLDER_LOCK = ".atroposd.lock"


class Busy(Exception):
    """Another process holds the lock; ``holder`` is the pid it wrote (or "unknown")."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def take(path: Path) -> IO[str]:
    """Open ``path`` (created if missing), lock it without waiting, write our pid into it.

    Raises ``Busy`` when another process holds it, ``OSError`` when it cannot be opened or
    locked. The returned handle holds the lock until it is closed (``drop``).
    """
    handle = open(path, "a+")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise Busy(holder) from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def drop(handle: IO[str]) -> None:
    """Release a lock from ``take``."""
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


class FolderLocks:
    """A hidden lock file in each watched folder, taken at start and held until the end.

    ``folders`` are (setting name, folder) pairs; a folder named twice (``OUT_ROOT`` equal to
    ``UPLOAD_FOLDER``) is locked once. A folder that cannot hold the lock file (read-only,
    a file system without ``flock``) is allowed, as it is without a lock: one warning, and the
    daemon goes on unprotected there.
    """

    def __init__(self, folders: Sequence[tuple[str, Path]]) -> None:
        self._folders = folders
        self._held: list[IO[str]] = []

    def acquire(self) -> None:
        """Lock every folder, or release what was taken and raise ``LockedError``."""
        seen: set[Path] = set()
        try:
            for name, folder in self._folders:
                real = folder.resolve()
                if real not in seen and folder.is_dir():
                    seen.add(real)
                    self._lock(name, folder)
        except BaseException:
            self.release()
            raise

    def _lock(self, name: str, folder: Path) -> None:
        try:
            self._held.append(take(folder / FOLDER_LOCK))
        except Busy as busy:
            raise LockedError(
                f"{name} {folder.absolute()}: another atroposd (pid {busy.holder}) already "
                "watches this folder (with another STATE_DIR); two daemons on one folder would "
                "post each clip twice: stop it first"
            ) from None
        except OSError as exc:
            log.warning(
                "watch_folder_not_locked",
                setting=name,
                folder=str(folder.absolute()),
                error=exc.strerror or str(exc),
                note="cannot hold a lock file here (read-only?): a second atroposd watching "
                "this folder would not be stopped",
            )

    def release(self) -> None:
        """Drop every lock held."""
        while self._held:
            drop(self._held.pop())
