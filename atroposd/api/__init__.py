"""The local API for the desktop client (issue 12): FastAPI app served by uvicorn in ``run``.

``attach`` adds the server to a daemon's supervised tasks (``App.extra_jobs``) when
``API_ENABLED``; ``create_app`` is the factory for ``uvicorn --factory atroposd.api:create_app``
(standalone: it reads the ledger read-only; enqueue, retry and cancel answer 503).
Routes and shapes: docs/api.md; tokens and binding: docs/adr/0019.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from atroposd.app import App
from atroposd.errors import ConfigError

LEDGER_FILE = "ledger.sqlite3"


def attach(app: App) -> None:
    """Serve the API inside ``app``'s run; a non-loopback bind without API_TOKEN is refused
    here, before anything starts (``ConfigError``)."""
    from atroposd.api.auth import check_bind, load_token
    from atroposd.api.context import Context
    from atroposd.api.planner import Planner
    from atroposd.api.queries import Reader
    from atroposd.api.server import serve
    from atroposd.api.web import build

    s = app.settings
    configured = s.secret("API_TOKEN")
    check_bind(s.api_host, bool(configured))

    async def job() -> None:
        token = load_token(s.state_dir, configured)  # after build: STATE_DIR exists, 0700
        app.redactor.pin(token)
        reader = Reader(s.state_dir / LEDGER_FILE)
        planner = Planner(app)
        worker = asyncio.create_task(planner.run(), name="api-planner")
        try:
            ctx = Context(s, app.config, token, reader, app, planner=planner)
            await serve(build(ctx), s.api_host, s.api_port)
        finally:
            worker.cancel()  # folders not planned yet: the watcher's next scan finds them
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            reader.close()

    app.extra_jobs["api"] = job


def create_app(env_file: Path | None = Path(".env")) -> Any:
    """The FastAPI application over the ledger of ``.env``'s STATE_DIR, read-only."""
    from atroposd.api.auth import check_bind, load_token, quiet_uvicorn_tokens
    from atroposd.api.context import Context
    from atroposd.api.guard import LoopbackOnly
    from atroposd.api.queries import Reader
    from atroposd.api.web import build
    from atroposd.config import load_settings, load_upload_config

    quiet_uvicorn_tokens()  # uvicorn's access log prints query strings (?token=)
    s = load_settings(env_file)
    configured = s.secret("API_TOKEN")
    check_bind(s.api_host, bool(configured))
    path = s.state_dir / LEDGER_FILE
    if not path.is_file():
        raise ConfigError(f"STATE_DIR {s.state_dir}: no ledger ({LEDGER_FILE}) to read yet")
    try:
        reader = Reader(path)
    except sqlite3.Error as exc:
        raise ConfigError(f"{path}: cannot open the ledger read-only: {exc}") from None
    token = load_token(s.state_dir, configured)
    app = build(Context(s, load_upload_config(s.upload_config), token, reader))
    return app if configured else LoopbackOnly(app)
