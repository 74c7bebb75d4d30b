"""The watchdog (inotify) observer, reduced to "look at this path" calls on the event loop.

The handler runs on watchdog's dispatcher thread and only forwards paths with
``loop.call_soon_threadsafe``: no stat, no parsing there (perf-reliability §1.7).

Traps of watchdog 7.1 this module avoids (perf-reliability §1.2, §1.5):

* the default event mask includes open/close-nowrite; a recursive tree of a few thousand
  folders then overflows inotify forever at 100% CPU. ``EVENT_FILTER`` is always passed;
* a ``mv`` into the folder only produces ``created``, rsync and atomic writers only ``moved``:
  we listen to closed + created + moved (both ends);
* on queue overflow watchdog only logs; ``OverflowAlarm`` turns that log record into an
  immediate rescan request;
* ``mkdir -p a/b`` makes the emitter thread add the watch on ``b`` twice and
  ``warnings.warn`` a harmless RuntimeWarning from that thread; where warnings are errors
  (our test suite) the emitter thread dies and every later event is lost. The warning is
  filtered, and ``alive`` lets the watcher notice a dead emitter and restart the observer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

log = structlog.get_logger(__name__)

EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileClosedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
_DUPLICATE_WATCH_WARNING = r"Callback with id .* already exists for watch"

# Called on the event loop with (path, is_directory).
Notify = Callable[[Path, bool], None]


class _Forwarder(FileSystemEventHandler):
    """Forwards every event's path(s) to the event loop; runs on watchdog's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, notify: Notify) -> None:
        self._loop = loop
        self._notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        paths = [event.src_path]
        if event.event_type == "moved":
            paths.append(event.dest_path)  # the source is gone: a stat will tell
        for raw in paths:
            if raw:
                self._send(Path(os.path.abspath(os.fsdecode(raw))), event.is_directory)

    def _send(self, path: Path, is_dir: bool) -> None:
        # RuntimeError: the loop is closing; the next start-up scan will see the file.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._notify, path, is_dir)


class OverflowAlarm(logging.Handler):
    """Turns watchdog's "queue overflowed" log record into a rescan request on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self._loop = loop
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" not in record.getMessage():
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_overflow)


class FolderObserver:
    """One inotify observer watching every root recursively."""

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        loop: asyncio.AbstractEventLoop,
        notify: Notify,
        on_overflow: Callable[[], None],
    ) -> None:
        self._roots = tuple(roots)
        self._handler = _Forwarder(loop, notify)
        self._alarm = OverflowAlarm(loop, on_overflow)
        self._observer = Observer()

    def start(self) -> None:
        """Create missing roots, schedule them and start the threads (blocking: use a thread)."""
        for root in self._roots:
            root.mkdir(parents=True, exist_ok=True)
            self._observer.schedule(
                self._handler, str(root), recursive=True, event_filter=EVENT_FILTER
            )
        logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._alarm)
        warnings.filterwarnings(
            "ignore", message=_DUPLICATE_WATCH_WARNING, category=RuntimeWarning, module="watchdog"
        )
        self._observer.start()
        log.info("watch_observer_started", roots=[str(r) for r in self._roots])

    @property
    def alive(self) -> bool:
        """False once the observer or one of its emitter threads has died."""
        emitters = self._observer.emitters
        return self._observer.is_alive() and all(e.is_alive() for e in emitters)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the threads (blocking: use a thread)."""
        logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._alarm)
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout)
        log.info("watch_observer_stopped", alive=self._observer.is_alive())
