"""``uvicorn --factory atroposd.api:create_app``: the ledger read-only, the token file, uvicorn's
own access log (on by default there) without the ``?token=`` it was given."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets.sync.client as wsc
from websockets.exceptions import ConnectionClosed

from atroposd.store.db import connect
from tests.support import Workspace, free_port, wait_for


def test_the_factory_serves_the_ledger_read_only_and_logs_no_token(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home", "http://127.0.0.1:9")
    ws.state.mkdir(mode=0o700)
    connect(ws.state / "ledger.sqlite3").close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX", "API_"))}
    env.update(ws.env)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "atroposd.api:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ws.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(url), 60, "uvicorn --factory")
        token = (ws.state / "api-token").read_text().strip()
        assert (ws.state / "api-token").stat().st_mode & 0o777 == 0o600
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth) as api:
            assert api.get("/api/jobs").json() == {"jobs": [], "nextCursor": None}
            assert api.post("/api/jobs", json={"path": str(ws.queue)}).status_code == 503
            assert api.get("/readyz").json() == {"ready": True, "checks": {"ledger": True}}
        assert httpx.get(f"{url}/api/jobs?token={token}").status_code == 401  # header only
        with (
            wsc.connect(f"ws{url[4:]}/ws/jobs/1?token={token}") as sock,
            pytest.raises(ConnectionClosed),
        ):
            sock.recv(timeout=30)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "GET /api/jobs" in out, out  # the access log is on...
    assert token not in out and "token=[redacted]" in out, out  # ...without the token


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz").status_code == 200
    except httpx.TransportError:
        return False
