"""Helpers for the emulator tests: a real ``EmulatorServer`` on a free loopback port, and
thin wrappers over the YouTube protocol requests (tests talk real HTTP through httpx)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from atroposd.emulator import EmulatorServer

KIB256 = 256 * 1024
UPLOAD = "/youtube/upload/youtube/v3/videos"
LIST = "/youtube/youtube/v3/videos"
Scenario = Callable[[EmulatorServer, httpx.AsyncClient], Awaitable[None]]
TRANSPORT_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


def run(scenario: Scenario, storage: Path) -> None:
    """Start a server on a free port, run ``scenario`` against it, stop it."""

    async def main() -> None:
        server = EmulatorServer(port=0, storage_dir=storage)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
                await scenario(server, client)
        finally:
            await server.stop()

    asyncio.run(main())


async def wait_for(predicate: Callable[[], Awaitable[bool]], limit: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def token(client: httpx.AsyncClient, account: str = "alice") -> str:
    form = {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "secret",
        "refresh_token": f"sandbox:{account}:r1",
    }
    resp = await client.post("/youtube/token", data=form)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"} if tok else {}


async def create(
    client: httpx.AsyncClient, tok: str, size: int, meta: dict[str, Any] | None = None
) -> httpx.Response:
    body = meta or {
        "snippet": {"title": "Clip", "description": "A caption", "tags": ["a", "b c"]},
        "status": {"privacyStatus": "public", "selfDeclaredMadeForKids": False},
    }
    headers = {**bearer(tok), "X-Upload-Content-Length": str(size)}
    headers["X-Upload-Content-Type"] = "video/mp4"
    return await client.post(
        UPLOAD, params={"uploadType": "resumable", "part": "snippet,status"}, json=body,
        headers=headers,
    )  # fmt: skip


async def session(client: httpx.AsyncClient, tok: str, size: int) -> str:
    resp = await create(client, tok, size)
    assert resp.status_code == 200, resp.text
    return resp.headers["location"]


async def put(
    client: httpx.AsyncClient, tok: str, uri: str, data: bytes, first: int, total: int
) -> httpx.Response:
    headers = {**bearer(tok), "Content-Range": f"bytes {first}-{first + len(data) - 1}/{total}"}
    return await client.put(uri, content=data, headers=headers)


async def query(client: httpx.AsyncClient, tok: str, uri: str, total: int) -> httpx.Response:
    headers = {**bearer(tok), "Content-Range": f"bytes */{total}"}
    return await client.put(uri, content=b"", headers=headers)


async def faults(client: httpx.AsyncClient, *rules: dict[str, Any]) -> None:
    resp = await client.post("/_emulator/faults", json=list(rules))
    assert resp.status_code == 200, resp.text


async def posts(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    resp = await client.get("/_emulator/posts")
    result: list[dict[str, Any]] = resp.json()
    return result


def blob(size: int) -> bytes:
    return os.urandom(size)


async def raw_request(server: EmulatorServer, head: str) -> tuple[asyncio.StreamReader, Any]:
    host, port = server.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


def put_head(uri: str, tok: str, length: int, content_range: str, extra: str = "") -> str:
    path = uri.split("//", 1)[1].split("/", 1)[1]
    return (
        f"PUT /{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\n"
        f"Content-Length: {length}\r\nContent-Range: {content_range}\r\n{extra}\r\n"
    )
