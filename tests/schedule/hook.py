"""A tiny real webhook server on loopback for the notification tests (a thread, stdlib only).

``answers`` is the list of status codes to give, one per request (then 200); ``hang`` keeps
every request open, unanswered, until the server is closed (a hook that is down but accepts
connections).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Hook:
    """Bodies received (parsed JSON), requests seen, and what to answer."""

    def __init__(self, answers: list[int] | None = None, hang: bool = False) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests = 0
        self.answers = list(answers or [])
        self.hang = hang
        self.hanging = 0  # requests held open right now
        self.released = threading.Event()
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with hook._lock:
                    hook.requests += 1
                    code = hook.answers.pop(0) if hook.answers else 200
                    if hook.hang:
                        hook.hanging += 1
                if hook.hang:
                    hook.released.wait(60)
                    with hook._lock:
                        hook.hanging -= 1
                    return
                if code == 200:
                    with hook._lock:
                        hook.bodies.append(json.loads(raw))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=s3cr3t-hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(10)


@contextmanager
def hook_server(answers: list[int] | None = None, hang: bool = False) -> Iterator[Hook]:
    """A running ``Hook``, closed on exit."""
    hook = Hook(answers, hang)
    try:
        yield hook
    finally:
        hook.close()


def refused_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"
