"""A loopback server for the streaming-body tests, run in its own process.

Each request body is streamed to a temporary file, then parsed by the standard library's
MIME parser (``email``, the parser behind the old ``cgi`` module; python-multipart is not
installed) and answered with what it found: every part's name, filename, content type,
length, SHA-256 (and value, for small text parts) and the parser's defects (a missing
closing boundary, a part without headers...). The HTTP side is the emulator's own h11
server, which refuses a body longer or shorter than its ``Content-Length``.

Run as ``python -m tests.unit.multipart_server``: prints the port, serves until stdin
closes. A separate process, so a test's ``tracemalloc`` measures the client alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from atroposd.emulator.wire import HttpServer, Request, Response

ROOT = Path(__file__).resolve().parents[2]  # the repository, so ``-m tests.unit...`` resolves


def describe(content_type: str, body: bytes) -> dict[str, Any]:
    """What a real MIME parser makes of a multipart body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    assert isinstance(msg, EmailMessage)
    parts: list[dict[str, Any]] = []
    defects = [type(d).__name__ for d in msg.defects]
    for part in msg.iter_parts() if msg.is_multipart() else ():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        defects += [type(d).__name__ for d in part.defects]
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "length": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
                "value": payload.decode("utf-8", "replace") if len(payload) <= 256 else None,
            }
        )
    return {"multipart": msg.is_multipart(), "parts": parts, "defects": defects}


async def handle(request: Request) -> Response:
    with tempfile.TemporaryFile() as spool:
        received = 0
        async for piece in request.stream():
            spool.write(piece)
            received += len(piece)
        spool.seek(0)
        found = describe(request.header("content-type", ""), spool.read())
    found.update(
        received=received,
        content_length=request.content_length,
        chunked="chunked" in request.header("transfer-encoding", ""),
    )
    return Response.json(200, found)


async def main() -> None:
    server = HttpServer(handle, "127.0.0.1", 0)
    await server.start()
    print(server.port, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # until the test closes our stdin
    await server.stop()


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Start the server in a child process; yields its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.multipart_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = child.stdout.readline().decode().strip()  # "" if the child died
        assert port.isdigit(), f"multipart server did not start (exit {child.poll()})"
        yield f"http://127.0.0.1:{port}"
    finally:
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)
        child.stdout.close()


if __name__ == "__main__":
    asyncio.run(main())
