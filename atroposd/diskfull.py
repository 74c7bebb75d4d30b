"""A full disk is the world, not a bug: one plain line now and then, not a traceback per pass.

With ``STATE_DIR`` full, every ledger write fails with SQLite's "database or disk is full":
the reconcile sweep, the watcher's hand-over and the post workers each logged a traceback on
every pass. The daemon itself copes (nothing is lost, nothing posts twice; it goes on once
there is room again), so the log should say what is wrong in words a user acts on.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import structlog

EVERY_SECONDS = 600.0  # while it stays full, say so again this often


def is_disk_full(exc: BaseException | None) -> bool:
    """True for "no space left" from the OS or SQLite (SQLITE_FULL), also when wrapped."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(exc, sqlite3.OperationalError):
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_FULL or "database or disk is full" in str(exc):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def _exception(value: Any) -> BaseException | None:
    if value is True:
        return sys.exc_info()[1]
    if isinstance(value, BaseException):
        return value
    if isinstance(value, tuple) and len(value) == 3:
        return value[1] if isinstance(value[1], BaseException) else None
    return None


class DiskFullLines:
    """A structlog processor: a log line carrying a disk-full exception becomes ``disk_full``.

    The first one says "disk full: cannot write the ledger in <STATE_DIR>" without a
    traceback; the ones after it are dropped for ``every`` seconds.
    """

    def __init__(
        self,
        state_dir: Path,
        every: float = EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._state_dir = state_dir.absolute()
        self._every = every
        self._monotonic = monotonic
        self._last: float | None = None

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        exc = _exception(event_dict.get("exc_info"))
        if not is_disk_full(exc):
            return event_dict
        now = self._monotonic()
        if self._last is not None and now - self._last < self._every:
            raise structlog.DropEvent
        self._last = now
        target = (
            exc.filename
            if isinstance(exc, OSError) and exc.filename
            else f"the ledger in {self._state_dir}"
        )
        return {
            "event": "disk_full",
            "level": "error",
            "message": f"disk full: cannot write {target}",
            "during": event_dict.get("event"),
            "action": "nothing is lost; carries on once there is room (said again every "
            f"{self._every:.0f} s while full)",
            **{k: v for k, v in event_dict.items() if k == "timestamp"},
        }
