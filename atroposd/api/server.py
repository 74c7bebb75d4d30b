"""uvicorn inside the daemon's event loop, as one of its supervised tasks.

- The socket is bound here, so a port in use is an ``OSError`` the supervisor logs and retries
  (the publisher goes on); uvicorn would ``sys.exit`` instead.
- uvicorn's own signal handlers are not installed: SIGTERM belongs to the daemon, which stops
  the server by cancelling this task (``should_exit``, then a bounded graceful shutdown).
- ``log_config=None`` (the daemon's logging stays as configured), no access log (it prints
  query strings: ``?token=``), and a filter that scrubs ``token=`` from uvicorn's own lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import structlog
import uvicorn

from atroposd.api.auth import quiet_uvicorn_tokens

log = structlog.get_logger("atroposd")
GRACE_SECONDS = 3.0


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon owns SIGTERM/SIGINT


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host is one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # proto says TCP; with proto 0 every response waited ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def config(asgi: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        asgi,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="websockets-sansio",
        ws_max_size=64 * 1024,
        timeout_graceful_shutdown=int(GRACE_SECONDS),
        server_header=False,
    )


async def serve(asgi: Any, host: str, port: int) -> None:
    """Serve ``asgi`` until cancelled; then close the listener and the connections."""
    quiet_uvicorn_tokens()
    sock = bind(host, port)
    server = _Server(config(asgi, host, port))
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    log.info("api_started", url=f"http://{host}:{sock.getsockname()[1]}")
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, GRACE_SECONDS + 2)
        raise
    except SystemExit as exc:  # uvicorn's answer to a failed start
        raise RuntimeError(f"the API server did not start (exit {exc.code})") from None
    finally:
        sock.close()
        log.info("api_stopped")
