"""A small HTTP/1.1 server on ``asyncio.start_server`` + ``h11``, built for the emulator.

Why not ASGI: the fault engine must be able to close a TCP connection without answering,
before or after the request body was consumed, and request bodies of 1 GiB+ must stream
to disk. Handlers get a ``Request`` whose body they read on demand (``body()`` for small
JSON/form payloads, ``stream()`` for media) and return a ``Response``; raising ``Drop``
aborts the connection instead. Unread body bytes are drained after the response so the
connection stays usable (keep-alive), except when the client still waits for a
``100 Continue`` it will never get, in which case the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import overload
from urllib.parse import parse_qsl, urlsplit

import h11
import structlog

log = structlog.get_logger("atroposd.emulator")

READ_SIZE = 1 << 20  # socket reads of 1 MiB: few Python-level iterations per GiB
STREAM_LIMIT = 8 << 20  # asyncio StreamReader buffer, large so reads come back full
MAX_SMALL_BODY = 16 << 20  # cap for body() (JSON/form payloads)
IDLE_TIMEOUT = 120.0  # seconds a kept-alive connection may sit idle between requests


class Drop(Exception):
    """Raised by a handler: close the TCP connection without sending any response."""


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


class BodyTooLarge(Exception):
    """``Request.body()`` was called on a body larger than its limit."""


@dataclass(frozen=True)
class Response:
    """What a handler answers: status, headers and a (small) body."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(
        cls, status: int, payload: object, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        """A JSON response with the right content type."""
        data = json.dumps(payload).encode()
        return cls(status, data, (("Content-Type", "application/json; charset=UTF-8"), *headers))


class _Body:
    """Pulls request body events out of h11, reading the socket in large pieces."""

    def __init__(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self.started = False
        self.done = False

    async def _event(self) -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ClientGone(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event
            data = await self._reader.read(READ_SIZE)
            self._conn.receive_data(data)

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield body pieces as they arrive; sends ``100 Continue`` first when asked for."""
        if self.done:
            return
        if not self.started and self._conn.they_are_waiting_for_100_continue:
            go_on = h11.InformationalResponse(status_code=100, headers=[])
            self._writer.write(self._conn.send(go_on) or b"")
        self.started = True
        while True:
            event = await self._event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
                return
            else:
                raise ClientGone(f"unexpected event {event!r}")

    async def drain(self) -> None:
        """Read and discard whatever is left of the body."""
        async for _ in self.chunks():
            pass


@dataclass
class Request:
    """One parsed HTTP request; the body is read lazily."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    _body: _Body = field(repr=False)
    _read: bytes | None = field(default=None, repr=False)  # body() kept: a second read gets it

    @overload
    def header(self, name: str) -> str | None: ...

    @overload
    def header(self, name: str, default: str) -> str: ...

    def header(self, name: str, default: str | None = None) -> str | None:
        """The header's value (names are case-insensitive), or ``default``."""
        return self.headers.get(name.lower(), default)

    @property
    def content_length(self) -> int | None:
        """Declared Content-Length, when given and numeric."""
        raw = self.header("content-length")
        return int(raw) if raw is not None and raw.isdigit() else None

    def stream(self) -> AsyncIterator[bytes]:
        """Iterate over the body without buffering it."""
        return self._body.chunks()

    async def body(self, limit: int = MAX_SMALL_BODY) -> bytes:
        """The whole body in memory; for small payloads only (kept: a second call gets it)."""
        if self._read is not None:
            return self._read
        parts: list[bytes] = []
        size = 0
        async for piece in self._body.chunks():
            size += len(piece)
            if size > limit:
                raise BodyTooLarge(f"body larger than {limit} bytes")
            parts.append(piece)
        self._read = b"".join(parts)
        return self._read

    async def discard(self) -> None:
        """Read and throw away the body (so the connection stays usable)."""
        await self._body.drain()


Handler = Callable[[Request], Awaitable[Response]]


def _reason(status: int) -> bytes:
    if status == 308:
        return b"Resume Incomplete"  # Google's wording for its resumable protocol
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _build_request(event: h11.Request, body: _Body) -> Request:
    target = event.target.decode("latin-1")
    parts = urlsplit(target)
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {val}" if key in headers else val
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return Request(event.method.decode(), target, parts.path, query, headers, body)


class HttpServer:
    """Serves ``handler`` over HTTP/1.1 with keep-alive on one listening socket."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and start accepting connections."""
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._port, limit=STREAM_LIMIT
        )

    async def stop(self) -> None:
        """Stop accepting, then cancel open connections and wait for them."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ClientGone, ConnectionError, TimeoutError, h11.ProtocolError):
            pass
        except asyncio.CancelledError:
            # stop() cancels open connections; ending quietly keeps asyncio's stream
            # callback from logging the cancellation as an error.
            pass
        finally:
            self._connections.discard(task)
            writer.transport.abort()

    async def _next_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Request | None:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                async with asyncio.timeout(IDLE_TIMEOUT):
                    data = await reader.read(READ_SIZE)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                return event
            return None  # ConnectionClosed, PAUSED or anything unexpected

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 << 10)
        while True:
            event = await self._next_request(conn, reader)
            if event is None:
                return
            body = _Body(conn, reader, writer)
            request = _build_request(event, body)
            try:
                response = await self._handler(request)
            except Drop:
                return  # the finally clause aborts the transport
            except ClientGone:
                raise
            except Exception:
                log.exception("emulator_handler_failed", method=request.method, path=request.path)
                response = Response.json(500, {"error": "emulator internal error"})
            if request.method == "HEAD":
                response = Response(response.status, b"", response.headers)
            if not await self._respond(conn, writer, body, response):
                return
            conn.start_next_cycle()

    async def _respond(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, body: _Body, resp: Response
    ) -> bool:
        """Send ``resp``; True when the connection can serve another request."""
        close = not body.done and conn.they_are_waiting_for_100_continue
        headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(resp.body))))
        if close:
            headers.append(("Connection", "close"))
        reason = _reason(resp.status)
        start = h11.Response(status_code=resp.status, headers=headers, reason=reason)
        writer.write(conn.send(start) or b"")
        if resp.body:
            writer.write(conn.send(h11.Data(data=resp.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        if close:
            return False
        await body.drain()
        if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
            with contextlib.suppress(ConnectionError):
                writer.close()
            return False
        return True
