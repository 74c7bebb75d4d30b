"""The local API under test: a real uvicorn server, in the daemon or in a thread of the test."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from atroposd.api.context import Context
from atroposd.api.queries import Reader
from atroposd.api.server import bind
from atroposd.api.web import build
from atroposd.bus import Bus
from atroposd.config import Settings, UploadConfig, load_settings
from tests.support import Daemon, Emulator, Workspace, wait_for

TOKEN = "t" * 40


class ThreadServer:
    """``build(ctx)`` served by uvicorn on a free loopback port from a background thread."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._sock: socket.socket = bind("127.0.0.1", 0)
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            build(ctx), log_config=None, access_log=False, lifespan="off", ws="websockets-sansio"
        )
        self._server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        wait_for(lambda: self._server.started, 10, "uvicorn started")

    def _run(self) -> None:
        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._sock])

        asyncio.run(serve())

    def call(self, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` on the server's event loop (the bus is not thread-safe)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()
        self.ctx.reader.close()


def standalone(
    state: Path,
    config: dict[str, Any] | None = None,
    events: Bus | None = None,
    **env: str,
) -> Context:
    """A read-only context (as ``uvicorn --factory``) over the ledger in ``state``."""
    settings: Settings = load_settings(None, {"STATE_DIR": str(state), "API_TOKEN": TOKEN, **env})
    cfg = UploadConfig.model_validate(config or {"accounts": {"default": {}}})
    return Context(settings, cfg, TOKEN, Reader(state / "ledger.sqlite3"), events=events)


@dataclass
class LiveApi:
    """``atroposd run`` with its API on a free loopback port."""

    ws: Workspace
    emulator: Emulator
    daemon: Daemon
    token: str

    @property
    def url(self) -> str:
        return self.ws.api_url

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_daemon(ws: Workspace, emulator: Emulator, **env: str) -> LiveApi:
    daemon = Daemon(ws, extra_env=env)
    try:
        daemon.wait_event("api_started")
        daemon.wait_event("daemon_started")
        token = (ws.state / "api-token").read_text().strip()
        wait_for(lambda: httpx.get(ws.api_url + "/healthz").status_code == 200, 30, "healthz")
    except BaseException:
        daemon.stop()
        raise
    return LiveApi(ws, emulator, daemon, token)
