"""The watchdog (inotify) observer, reduced to "look at this path" calls on the event loop.

The handler runs on watchdog's dispatcher thread and only forwards paths with
``loop.call_soon_threadsafe``: no stat, no parsing there (perf-reliability §1.7).

Traps of watchdog 7.1 this module avoids (perf-reliability §1.2, §1.5):

* the default event mask includes open/close-nowrite; a recursive tree of a few thousand
  folders then overflows inotify forever at 100% CPU. ``EVENT_FILTER`` is always passed
  (``modified`` adds IN_MODIFY and IN_ATTRIB, which reads never cause);
* a ``mv`` into the folder only produces ``created``, rsync and atomic writers only ``moved``:
  we listen to closed + created + moved (both ends), and to ``modified``, which with no
  ``closed`` after it means a writer still has the file open (§4.8: a copy paused at a
  fragment boundary looks complete). Each path goes out with what its event says about its
  writer: True (modified), False (closed after write), None (created or moved in);
* a watched folder deleted stops its emitter thread (IN_DELETE_SELF), renamed away keeps
  watching it under its old name, mounted over hides it: each root has its own watch, so the
  watcher can drop and re-add one (``watch``/``unwatch``/``watching``) when its folder changes;
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
from collections.abc import Callable
from pathlib import Path

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

log = structlog.get_logger(__name__)

EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileClosedEvent,
    FileModifiedEvent,
    FileCreatedEvent,
    FileMovedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]
_OVERFLOW_LOGGER = "watchdog.observers.inotify_c"
_DUPLICATE_WATCH_WARNING = r"Callback with id .* already exists for watch"

# Called on the event loop with (path, is_directory, writing); writing: see the module doc.
Notify = Callable[[Path, bool, bool | None], None]


class _Forwarder(FileSystemEventHandler):
    """Forwards every event's path(s) to the event loop; runs on watchdog's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, notify: Notify) -> None:
        self._loop = loop
        self._notify = notify
        self._last_modified: bytes | str | None = None  # only this thread touches it

    def on_any_event(self, event: FileSystemEvent) -> None:
        writing = {"modified": True, "closed": False}.get(event.event_type)
        if writing:  # a copy is thousands of writes in a row: the first one says it all
            if event.src_path == self._last_modified:
                return
            self._last_modified = event.src_path
        else:
            self._last_modified = None
        paths = [event.src_path]
        if event.event_type == "moved":
            paths.append(event.dest_path)  # the source is gone: a stat will tell
        for raw in paths:
            if raw:
                self._send(Path(os.path.abspath(os.fsdecode(raw))), event.is_directory, writing)

    def _send(self, path: Path, is_dir: bool, writing: bool | None) -> None:
        # RuntimeError: the loop is closing; the next start-up scan will see the file.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._notify, path, is_dir, writing)


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
    """One inotify observer; each watched root has its own recursive watch."""

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        notify: Notify,
        on_overflow: Callable[[], None],
    ) -> None:
        self._handler = _Forwarder(loop, notify)
        self._alarm = OverflowAlarm(loop, on_overflow)
        self._observer = Observer()
        self._watches: dict[Path, ObservedWatch] = {}

    def start(self) -> None:
        """Start the threads; no folder is watched until ``watch`` (blocking: use a thread)."""
        logging.getLogger(_OVERFLOW_LOGGER).addHandler(self._alarm)
        warnings.filterwarnings(
            "ignore", message=_DUPLICATE_WATCH_WARNING, category=RuntimeWarning, module="watchdog"
        )
        self._observer.start()
        log.info("watch_observer_started")

    def watch(self, root: Path) -> None:
        """Watch ``root`` recursively (again); raises ``OSError`` (gone, out of inotify
        watches). Blocking: adds one inotify watch per folder of the tree."""
        self.unwatch(root)
        self._watches[root] = self._observer.schedule(
            self._handler, str(root), recursive=True, event_filter=EVENT_FILTER
        )

    def unwatch(self, root: Path) -> None:
        """Stop watching ``root`` (its emitter thread is joined: blocking)."""
        watch = self._watches.pop(root, None)
        if watch is not None:
            with contextlib.suppress(KeyError):
                self._observer.unschedule(watch)

    def watching(self, root: Path) -> bool:
        """True while ``root`` has a watch whose emitter thread runs (a deleted folder's stops)."""
        watch = self._watches.get(root)
        return watch is not None and any(
            e.watch == watch and e.is_alive() for e in self._observer.emitters
        )

    @property
    def alive(self) -> bool:
        """False once the observer's dispatching thread has died."""
        return self._observer.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join the threads (blocking: use a thread)."""
        logging.getLogger(_OVERFLOW_LOGGER).removeHandler(self._alarm)
        self._watches.clear()
        if self._observer.is_alive():
            self._observer.stop()
            self._observer.join(timeout)
        log.info("watch_observer_stopped", alive=self._observer.is_alive())
