"""CORS is off unless API_CORS_ORIGINS lists origins; then only those, never ``*``."""

from __future__ import annotations

from pathlib import Path

import httpx

from atroposd.store.db import connect
from tests.api.support import TOKEN, ThreadServer, standalone

PREFLIGHT = {
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization",
}


def _ask(url: str, origin: str) -> tuple[httpx.Response, httpx.Response]:
    with httpx.Client(base_url=url) as client:
        pre = client.options("/api/jobs", headers={"Origin": origin, **PREFLIGHT})
        got = client.get(
            "/api/jobs", headers={"Origin": origin, "Authorization": f"Bearer {TOKEN}"}
        )
    return pre, got


def test_no_cors_headers_unless_origins_are_configured(tmp_path: Path) -> None:
    connect(tmp_path / "ledger.sqlite3").close()
    server = ThreadServer(standalone(tmp_path))
    try:
        pre, got = _ask(server.url, "https://evil.example")
        assert got.status_code == 200
        for answer in (pre, got):
            assert not any(h.startswith("access-control-") for h in answer.headers), answer.headers
    finally:
        server.close()


def test_configured_origins_only(tmp_path: Path) -> None:
    connect(tmp_path / "ledger.sqlite3").close()
    ctx = standalone(tmp_path, API_CORS_ORIGINS="http://localhost:5173, tauri://localhost")
    server = ThreadServer(ctx)
    try:
        pre, got = _ask(server.url, "tauri://localhost")
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "tauri://localhost"
        assert got.headers["access-control-allow-origin"] == "tauri://localhost"
        assert "access-control-allow-credentials" not in got.headers
        pre, got = _ask(server.url, "https://evil.example")
        assert "access-control-allow-origin" not in pre.headers
        assert "access-control-allow-origin" not in got.headers
    finally:
        server.close()
