"""A cap on request bodies: the API's bodies are a path and a few names (a few KB), and a
large one would be read into memory and parsed on the daemon's event loop (a 15 MB JSON list
held it for ~20 s). Over ``MAX_BODY`` the request is answered 413 before it is parsed."""

from __future__ import annotations

from typing import Any

MAX_BODY = 64 * 1024
TOO_LARGE = b'{"detail":"request body too large (at most 65536 bytes)"}'


class BodyLimit:
    """ASGI middleware: 413 for an HTTP request whose body is over ``limit`` bytes, by its
    Content-Length, or (chunked, no length) read up to the limit before the app sees it."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                await _refuse(send)
                return
            await self.app(scope, receive, send)
            return
        body = b""
        while True:  # no length given: read it here, at most the limit
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE})
