"""SIGHUP: read ``.env`` and ``upload_config.json`` again; which settings can change live.

``read`` loads both as the start did (``ConfigError`` for anything wrong: the running config
stays). ``split`` compares the new settings with the running ones: the live ones are taken;
the others (folders, the environment, the API's address, the token key...) keep their
running value until a restart, and are named in ``reload_restart_needed``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from atroposd.config import (
    Settings,
    UploadConfig,
    load_settings,
    load_upload_config,
    missing_platform_ids,
)
from atroposd.errors import ConfigError
from atroposd.lifecycle import reload_environ

log = structlog.get_logger("atroposd")

LIVE_SETTINGS = frozenset(
    {
        "reconcile_seconds",
        "shutdown_grace",
        "settle_seconds",
        "rescan_seconds",
        "fragmented_settle_seconds",
        "secrets",  # for the platforms a reload enables; running providers keep theirs
        "platform_settings",
    }
)
WATCHER_SETTINGS = frozenset({"settle_seconds", "rescan_seconds", "fragmented_settle_seconds"})


def env_name(field: str) -> str:
    """The ``.env`` name of a ``Settings`` field."""
    info = Settings.model_fields[field]
    return info.alias or field.upper()


def read(env_file: Path | None, env_at_start: Mapping[str, str]) -> tuple[Settings, UploadConfig]:
    """The settings and the config as they are on disk now; ``ConfigError`` when unusable."""
    settings = load_settings(env_file, reload_environ(os.environ, env_at_start))
    config = load_upload_config(settings.upload_config)
    missing = missing_platform_ids(config, settings)
    if missing:
        raise ConfigError("\n".join(missing))
    return settings, config


def settings_now(env_file: Path | None, env_at_start: Mapping[str, str]) -> Settings:
    """The settings as ``.env`` and the environment give them now (the token keys' re-read)."""
    return load_settings(env_file, reload_environ(os.environ, env_at_start))


def split(old: Settings, new: Settings) -> tuple[Settings, list[str], list[str]]:
    """(the settings to run with, the fields changed, those of them that need a restart)."""
    changed = [n for n in Settings.model_fields if getattr(old, n) != getattr(new, n)]
    fixed = [n for n in changed if n not in LIVE_SETTINGS]
    return new.model_copy(update={n: getattr(old, n) for n in fixed}), changed, fixed


class Reloader:
    """SIGHUP handling: one reload at a time, none before start-up is over; RELOADING=1
    before and READY=1 after (``say_reloading``/``say_ready``), refused or applied."""

    def __init__(
        self,
        read: Callable[[], tuple[Settings, UploadConfig]],
        apply: Callable[[Settings, UploadConfig], Awaitable[None]],
        say_reloading: Callable[[], object],
        say_ready: Callable[[], object],
    ) -> None:
        self._read, self._apply = read, apply
        self._say_reloading, self._say_ready = say_reloading, say_ready
        self.started = asyncio.Event()  # set by the daemon once READY=1 was sent
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def request(self) -> None:
        """The SIGHUP handler: reload in a task of its own."""
        task = asyncio.create_task(self.run(), name="reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> bool:
        """Read and apply; a config that does not load is refused (one ERR line) and the
        running one stays. True when applied."""
        await self.started.wait()
        async with self._lock:
            return await self._once()

    async def _once(self) -> bool:
        self._say_reloading()
        try:
            log.info("reload_started")
            try:
                settings, config = await asyncio.to_thread(self._read)
            except (ConfigError, OSError) as exc:
                log.error(
                    "ERR",
                    reload="refused",
                    error=str(exc),
                    next="kept the running config; fix it and reload again",
                )
                return False
            try:
                await self._apply(settings, config)
            except Exception as exc:  # a bug in a part's reload must not end the daemon
                log.exception("reload_failed", error=str(exc))
                return False
            return True
        finally:
            self._say_ready()
