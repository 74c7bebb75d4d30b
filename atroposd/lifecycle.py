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
from collections.abc import Collection, Mapping
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


def env_file_values(path: Path | None) -> dict[str, str]:
    """The values ``path`` sets now ({} when there is no such file)."""
    if path is None or not path.is_file():
        return {}
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def reload_environ(environ: Mapping[str, str], at_start: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables that still hold the value ``.env`` had at start
    (put there by ``EnvironmentFile=``): for those the file's current value counts."""
    return {k: v for k, v in environ.items() if at_start.get(k) != v}
