"""What the routes read: settings, the upload config, the token, the ledger reader, and the
daemon (``App``) when the API runs inside ``atroposd run``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, WebSocket

from atroposd.api.queries import Reader
from atroposd.app import App
from atroposd.bus import Bus
from atroposd.config import Settings, UploadConfig

if TYPE_CHECKING:
    from atroposd.api.planner import Planner

READ_ONLY = (
    "the API runs read-only outside `atroposd run` (uvicorn --factory): "
    "enqueue, retry and cancel need the daemon"
)


@dataclass
class Context:
    """Everything a request may need; ``app`` is None when served standalone (read-only)."""

    settings: Settings
    config: UploadConfig
    token: str
    reader: Reader
    app: App | None = None
    dropped: int = 0  # progress messages dropped for websocket clients that fell behind
    watcher_figures: dict[str, tuple[str, str, float]] = field(default_factory=dict)

    events: Bus | None = None  # a bus of its own when served without the daemon (tests)
    planner: Planner | None = None  # plans folder requests in the background (in the daemon)

    @property
    def bus(self) -> Bus | None:
        return self.app.sv.bus if self.app is not None else self.events

    @property
    def upload_config(self) -> UploadConfig:
        """The daemon's config (it may have been reloaded), else the one read at start."""
        return self.app.config if self.app is not None else self.config

    def daemon(self) -> App:
        """The daemon, or 503 when there is none to act."""
        if self.app is None:
            raise HTTPException(503, READ_ONLY)
        return self.app


async def ctx_of(request: Request) -> Context:
    """The context of the app serving ``request`` (a FastAPI dependency)."""
    ctx: Context = request.app.state.ctx
    return ctx


def ws_ctx(websocket: WebSocket) -> Context:
    ctx: Context = websocket.app.state.ctx
    return ctx
