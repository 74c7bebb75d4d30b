"""Must-show 2: a job's life through the API while the daemon posts to the emulator.

A project folder is enqueued with ``POST /api/jobs`` for two of the account's three platforms
(the third is cancelled). YouTube's second chunk answers 503 until the test lifts the fault, so
the websocket client is connected before the rest of the upload: it receives the history, the
ERR, live upload progress, an OK per platform and ``pipeline_completed``. Meanwhile another client
connected to the same job never reads a byte: the posts finish all the same.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import websockets.sync.client as wsc

from tests.api.support import LiveApi, start_daemon
from tests.support import Emulator, Workspace, make_clip, wait_for


def _silent_client(url: str, path: str) -> socket.socket:
    """A websocket client that completes the handshake, then never reads again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _listen(url: str, token: str, into: list[dict[str, Any]]) -> threading.Thread:
    def run() -> None:
        with wsc.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as sock:
            for raw in sock:
                into.append(json.loads(raw))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _project(ws: Workspace) -> Path:
    project = ws.out / "default" / "trip_20261201"
    (project / "shorts").mkdir(parents=True)
    video = make_clip(project / "shorts" / "best.mp4", seconds=3, seed=71, bitrate="2M")
    video.with_suffix(".txt").write_text("Best bit\n\n#trip\n", encoding="utf-8")
    return project


def test_a_job_through_the_api_with_live_progress_and_a_client_that_never_reads(
    tmp_path: Path, emulator: Emulator
) -> None:
    ws = Workspace(tmp_path / "home", emulator.url, api=True)
    ws.env["SETTLE_SECONDS"] = "600"  # the watcher waits: this clip comes through the API
    ws.use_platforms("youtube", "x", "tiktok")
    project = _project(ws)
    emulator.faults(
        {
            "platform": "youtube",
            "step": "chunk",
            "nth": 2,
            "times": 10**6,
            "action": "status",
            "code": 503,
        }
    )
    live: LiveApi = start_daemon(ws, emulator)
    silent: socket.socket | None = None
    try:
        with live.client() as api:
            got = api.post("/api/jobs", json={"path": str(project), "platforms": ["youtube", "x"]})
            assert got.status_code == 202, got.text
            body = got.json()
            job_id = body["job_id"]
            clip = "default/trip_20261201/shorts/best.mp4"
            assert body["jobs"] == [{"job_id": job_id, "clip": clip, "new": True}], body
            messages: list[dict[str, Any]] = []
            ws_url = live.url.replace("http", "ws") + f"/ws/jobs/{job_id}"
            listener = _listen(ws_url, live.token, messages)
            silent = _silent_client(live.url, f"/ws/jobs/{job_id}?token={live.token}")

            def err_seen() -> bool:
                return any(m["type"] == "ERR" and m["step"] == "youtube" for m in messages)

            wait_for(err_seen, 60, "youtube's ERR on the websocket")
            during = api.get(f"/api/jobs/{job_id}").json()
            assert during["state"] in ("queued", "running") and not during["finished"]
            youtube = next(p for p in during["platforms"] if p["platform"] == "youtube")
            assert youtube["last_error"] and youtube["state"] in ("ready", "uploading")
            cancelled = next(p for p in during["platforms"] if p["platform"] == "tiktok")
            assert cancelled["state"] == "cancelled"
            released_at = len(messages)
            emulator.http.delete("/_emulator/faults").raise_for_status()
            listener.join(120)
            assert not listener.is_alive(), messages[-3:]
            done = api.get(f"/api/jobs/{job_id}").json()
            assert api.post(f"/api/jobs/{job_id}/cancel").status_code == 409
            assert api.post(f"/api/jobs/{job_id}/retry").status_code == 409
        for platform in ("youtube", "x"):
            live.daemon.wait_event("OK", platform=platform)
        assert silent.fileno() != -1  # still connected, never read: the posts went out anyway
        after = messages[released_at:]
        progress = [m for m in after if m["type"] == "step_progress"]
        assert any(m["data"]["platform"] == "youtube" for m in progress), after
        for m in progress:
            data = m["data"]
            assert m["step"] == "upload" and data["platform"] in ("youtube", "x")
            assert 0 < data["progress"] <= 1 and 0 < data["completed"] <= data["total"]
            assert data["bytes_per_second"] >= 0 and "eta_seconds" in data
            assert {"type", "timestamp", "message", "step", "data"} <= m.keys()
        oks = {m["step"] for m in messages if m["type"] == "OK"}
        assert oks == {"youtube", "x"}, oks
        plans = {m["step"] for m in messages if m["type"] == "PLAN"}
        assert plans == {"youtube", "x", "tiktok"}, plans
        final = messages[-1]
        assert final["type"] == "pipeline_completed", final
        assert final["data"]["success"] is True and final["data"]["state"] == "published"
        assert final["data"]["error"] is None
        assert done["state"] == "published" and done["success"] and done["finished"]
        for entry in done["platforms"]:
            if entry["platform"] == "tiktok":
                assert entry["state"] == "cancelled"
            else:
                assert entry["state"] == "published" and entry["remote_id"] and entry["url"]
        assert live.token not in "".join(live.daemon.raw) + "".join(live.daemon.stderr)
    finally:
        if silent is not None:
            silent.close()
        assert live.daemon.stop() == 0
