"""The emulator's composition: HTTP core + control API + fault engine + platform modules.

Every platform is mounted under ``/<platform>`` followed by the real API path
(ARCHITECTURE.md, "Environments"); the control API lives under ``/_emulator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import structlog

from atroposd.emulator.control import PREFIX, Control
from atroposd.emulator.facebook import Facebook
from atroposd.emulator.faults import FaultEngine
from atroposd.emulator.instagram import Instagram
from atroposd.emulator.oauth import OAuthServer
from atroposd.emulator.platform import Context, Platform
from atroposd.emulator.snapchat import Snapchat
from atroposd.emulator.store import Store
from atroposd.emulator.tiktok import TikTok
from atroposd.emulator.token_control import PATHS as TOKEN_PATHS
from atroposd.emulator.token_control import TokenControl
from atroposd.emulator.wire import HttpServer, Request, Response
from atroposd.emulator.x import X
from atroposd.emulator.youtube import YouTube

log = structlog.get_logger("atroposd.emulator")


class EmulatorServer:
    """A local, protocol-faithful fake of the platforms' upload APIs, with fault injection."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8788,
        storage_dir: Path | None = None,
        extra_platforms: Sequence[Callable[[Context], Platform]] = (),
        processing_seconds: float = 0.3,
    ) -> None:
        self._host = host
        self._own_dir = storage_dir is None
        self._storage_dir = storage_dir
        self._http = HttpServer(self._handle, host, port)
        self._platforms: dict[str, Platform] = {}
        self._extra = tuple(extra_platforms)  # e.g. the tests' two-step platform
        self._processing_seconds = processing_seconds  # how long a new video stays processing
        self._control: Control | None = None
        self._oauth: OAuthServer | None = None  # logins: authorize, code, revoke
        self._token_control: TokenControl | None = None  # lifetimes, per-request tokens

    @property
    def base_url(self) -> str:
        """e.g. ``http://127.0.0.1:8788`` (the bound port when constructed with port 0)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._http.port}"

    @property
    def storage_dir(self) -> Path:
        """Where uploaded bytes are written."""
        if self._storage_dir is None:
            raise RuntimeError("server not started")
        return self._storage_dir

    async def start(self) -> None:
        """Bind the socket and start serving."""
        if self._storage_dir is None:
            self._storage_dir = Path(tempfile.mkdtemp(prefix="atroposd-emulator-"))
        self._storage_dir.mkdir(parents=True, exist_ok=True)
        faults = FaultEngine()
        ctx = Context(Store(self._storage_dir), faults, lambda: self.base_url)
        youtube = YouTube(ctx, self._processing_seconds)
        mounted = [youtube, *(make(ctx) for make in self._extra)]
        mounted.append(X(ctx, self._processing_seconds))
        mounted.append(Facebook(ctx, self._processing_seconds))
        mounted.append(TikTok(ctx, self._processing_seconds))
        mounted.append(Instagram(ctx, self._processing_seconds))
        mounted.append(Snapchat(ctx, self._processing_seconds))
        self._platforms = {platform.name: platform for platform in mounted}
        for platform in self._platforms.values():
            faults.register(platform.name, platform.steps)
        self._control = Control(ctx, self._platforms)
        self._oauth = OAuthServer(ctx, self._platforms)
        self._token_control = TokenControl(lambda: ctx.store.tokens)
        await self._http.start()
        log.info("emulator_started", base_url=self.base_url, storage_dir=str(self._storage_dir))

    async def stop(self) -> None:
        """Close every connection and, when the storage dir was a temp dir, delete it."""
        await self._http.stop()
        if self._own_dir and self._storage_dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._storage_dir, True)
            self._storage_dir = None
        log.info("emulator_stopped")

    async def _handle(self, request: Request) -> Response:
        path = request.path
        tc = self._token_control
        name = path.lstrip("/").partition("/")[0]
        if tc is not None and name in self._platforms:
            tc.record(name, request)  # every platform request, logins and token calls too
        login = await self._oauth.handle(request, path) if self._oauth is not None else None
        if login is not None:
            return login
        if tc is not None and path.startswith(PREFIX) and path[len(PREFIX) :] in TOKEN_PATHS:
            return await tc.handle(request, path.removeprefix(PREFIX))
        if self._control is not None and (path == PREFIX or path.startswith(PREFIX + "/")):
            if path == PREFIX + "/reset" and tc is not None:
                tc.reset()
            return await self._control.handle(request, path.removeprefix(PREFIX))
        name, _, rest = path.lstrip("/").partition("/")
        platform = self._platforms.get(name)
        if platform is None:
            return Response.json(404, {"error": f"no emulated platform at /{name}"})
        return await platform.handle(request, "/" + rest)


async def _serve_until_signal(host: str, port: int, storage_dir: Path | None) -> None:
    server = EmulatorServer(host, port, storage_dir)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def serve(host: str, port: int, storage_dir: Path | None = None) -> None:
    """Run the emulator until SIGINT/SIGTERM (blocking); the CLI's ``emulator`` command."""
    asyncio.run(_serve_until_signal(host, port, storage_dir))
