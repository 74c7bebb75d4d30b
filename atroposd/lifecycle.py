"""The daemon's stop and reload plumbing: two signals, bounded waits, the env to reload from.

``Stopper``: the first SIGTERM/SIGINT asks for a staged stop (``stopping``), a second one cuts
what still runs (``hurry``). ``wait_all`` waits for tasks within a bound that the second signal
ends at once; ``pause`` is a sleep that a stop ends (raising ``CancelledError``).

``reload_environ``: what to read ``.env`` against on a reload. systemd's ``EnvironmentFile=``
puts ``.env`` into the process environment at start, and the environment wins over ``.env``
(``config.load_settings``); so a variable whose value in the environment is still the one the
file had at start is taken to come from the file, and follows the file's new value.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog
from dotenv import dotenv_values

log = structlog.get_logger("atroposd")


class Stopper:
    """The stop signals of one daemon run."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()  # the first SIGTERM/SIGINT
        self.hurry = asyncio.Event()  # the second: cut what is still running

    def on_signal(self, name: str) -> None:
        """A stop signal arrived (the loop's signal handler)."""
        if not self.stopping.is_set():
            self.stopping.set()
            return
        log.warning("daemon_stop_now", signal=name, note="second signal: cutting what still runs")
        self.hurry.set()

    async def until(self, task: asyncio.Task[None], event: asyncio.Event) -> bool:
        """Wait until ``event`` is set, ``task`` ends or a stop signal came (a SIGTERM during
        the start-up scan must not wait for the scan); True when the stop came."""
        waits = [asyncio.ensure_future(e.wait()) for e in (event, self.stopping)]
        try:
            await asyncio.wait([*waits, task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        return self.stopping.is_set()

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``; a stop ends the calling task at once (``CancelledError``)."""
        try:
            async with asyncio.timeout(seconds):
                await self.stopping.wait()
        except TimeoutError:
            return
        raise asyncio.CancelledError

    async def wait_all(self, tasks: Collection[asyncio.Future[Any]], seconds: float) -> set[Any]:
        """Wait until ``tasks`` are done, ``seconds`` passed or a second signal came; returns
        the ones still pending (not cancelled here)."""
        pending = set(tasks)
        hurry = asyncio.ensure_future(self.hurry.wait())
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        try:
            while pending and not hurry.done():
                left = end - loop.time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | {hurry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()
        return pending

    async def wind_down(
        self, workers: Mapping[int, asyncio.Task[None]], grace: float
    ) -> tuple[list[int], list[int]]:
        """Give the post ``workers`` in flight up to ``grace`` seconds to finish their step,
        then cancel the rest (their saved handles resume at the next start). Returns the post
        ids (finished: ended within the grace, done or stopped between two status polls;
        cancelled: cut when the grace ran out)."""
        pending = await self.wait_all(workers.values(), grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        cut = sorted(i for i, t in workers.items() if t in pending)
        return sorted(set(workers) - set(cut)), cut

    async def stop(
        self,
        tasks: Mapping[str, asyncio.Task[None]],
        keep: Collection[str],
        workers: Callable[[], Mapping[int, asyncio.Task[None]]],
        grace: float,
    ) -> dict[str, object]:
        """Cancel ``tasks`` but ``keep`` (intake), wind the ``workers`` down, cancel the rest;
        the fields of the summary line."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        for name, task in tasks.items():
            if name not in keep:
                task.cancel()
        finished, cancelled = await self.wind_down(workers(), grace)
        for task in tasks.values():
            task.cancel()
        seconds = round(loop.time() - started, 3)
        return {
            "finished": finished,
            "cancelled": cancelled,
            "resume_at_start": bool(cancelled),
            "seconds": seconds,
        }


def env_file_values(path: Path | None) -> dict[str, str]:
    """The values ``path`` sets now ({} when there is no such file)."""
    if path is None or not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def reload_environ(environ: Mapping[str, str], at_start: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that still hold the value ``.env`` had at start
    (put there by ``EnvironmentFile=``): for those the file's current value counts."""
    return {k: v for k, v in environ.items() if at_start.get(k) != v}


async def supervise(
    name: str, run: Callable[[], Awaitable[None]], first: float = 1.0, most: float = 60.0
) -> None:
    """Run a long-lived task; when it fails, log one line and start it again after a pause.

    A watcher whose folder went away (an unmounted drive) must not take the publisher down
    with it. The pause doubles up to ``most`` and starts over once the task ran for longer
    than that. An OSError is the world, not a bug: no traceback for it.
    """
    wait = first
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
            return
        except Exception as exc:  # supervisor: log, pause, start the task again
            if loop.time() - started > most:
                wait = first
            fields = {"task": name, "error": f"{type(exc).__name__}: {exc}", "retry_in": wait}
            if isinstance(exc, OSError):
                log.error("task_failed", **fields)
            else:
                log.exception("task_failed", **fields)
        await asyncio.sleep(wait)
        wait = min(wait * 2, most)


async def every(seconds: Callable[[], float], step: Callable[[], Awaitable[None]]) -> None:
    """``step`` every ``seconds()`` (read each time: a reload may change it), first after a
    pause (the start-up ran its own). A failing pass is logged and the next one tries again."""
    while True:
        await asyncio.sleep(seconds())
        try:
            await step()
        except Exception as exc:  # supervisor: the next pass may well succeed
            log.exception("periodic_step_failed", error=str(exc))


async def heartbeat(
    ping: Callable[[], object],
    status: Callable[[], object],
    interval: float | None,
    changed: Callable[[], Awaitable[object]],
) -> None:
    """``ping`` every ``interval`` seconds from the event loop itself (a wedged loop stops
    the pings, and systemd's watchdog restarts the daemon); ``status`` after ``changed``
    fires, at most once a second."""
    while True:
        if interval is not None:
            ping()
        try:
            async with asyncio.timeout(interval):
                await changed()
                status()
                await asyncio.sleep(1.0)
        except TimeoutError:
            pass


def count_posts(conn: sqlite3.Connection, states: Sequence[str]) -> int:
    """How many posts are in ``states`` (portable SQL; for the STATUS= line)."""
    marks = ",".join("?" * len(states))
    sql = f"SELECT COUNT(*) FROM posts WHERE state IN ({marks})"
    return int(conn.execute(sql, list(states)).fetchone()[0])


BLOCK_LOOP_ENV = "ATROPOSD_SANDBOX_BLOCK_LOOP_SECONDS"


def block_loop_on_sigusr1(
    loop: asyncio.AbstractEventLoop, sandbox: bool, say: Callable[[str], object]
) -> None:
    """Sandbox only, for the tests: with ``ATROPOSD_SANDBOX_BLOCK_LOOP_SECONDS`` set at start,
    SIGUSR1 blocks the event loop that long, as a wedged loop would (a blocking call, a
    deadlock), saying so with ``say`` (STATUS=) before and after. Other threads run on."""
    seconds = os.environ.get(BLOCK_LOOP_ENV)
    if not sandbox or not seconds:
        return

    def block() -> None:
        say(f"event loop blocked for {seconds} s (sandbox test hook)")
        time.sleep(float(seconds))
        say("event loop unblocked")

    loop.add_signal_handler(signal.SIGUSR1, block)
