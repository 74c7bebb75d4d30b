"""Standalone (``uvicorn --factory``) the bind address is uvicorn's ``--host``, which the app
cannot see before the first request: without ``API_TOKEN``, a request that arrived on a
non-loopback address is refused (503), whatever ``--host`` said."""

from __future__ import annotations

from typing import Any

import structlog

from atroposd.api.auth import is_loopback

log = structlog.get_logger("atroposd")
REFUSED = (
    b'{"detail":"refused: this API is bound to a non-loopback address and API_TOKEN is not '
    b'set (set API_TOKEN, or serve it on 127.0.0.1)"}'
)


class LoopbackOnly:
    """ASGI wrapper: pass requests received on a loopback address, refuse the others."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._warned = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        server = scope.get("server")
        if scope["type"] in ("http", "websocket") and server and not is_loopback(str(server[0])):
            if not self._warned:
                self._warned = True
                log.error("api_refused", reason=REFUSED.decode()[11:-2])
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": REFUSED})
            return
        await self.app(scope, receive, send)
