"""/ws/renders carries the renderer's progress; /api/inventory and /api/schedule give what
``atroposd inventory --json`` and ``schedule --json`` print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import websockets.sync.client as wsc
from websockets.exceptions import ConnectionClosed

from atroposd.bus import Bus, RenderProgressed
from atroposd.store.db import connect
from tests.api.support import TOKEN, LiveApi, ThreadServer, standalone
from tests.support import Daemon, wait_for


def test_render_progress_reaches_a_websocket_client(tmp_path: Path) -> None:
    connect(tmp_path / "ledger.sqlite3").close()
    bus = Bus()
    server = ThreadServer(standalone(tmp_path, events=bus))
    url = server.url.replace("http", "ws") + "/ws/renders"
    try:
        with wsc.connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as sock:
            wait_for(lambda: bus.subscribers(RenderProgressed) == 1, 30, "the subscription")
            for percent, done in ((None, False), (25.0, False), (80.0, False), (100.0, True)):
                event = RenderProgressed("k1", "/out/a/p/shorts/s1.mp4", percent, 2.5, done)
                server.call(bus.publish, event)
            got = [json.loads(sock.recv(timeout=30)) for _ in range(4)]
        assert [m["type"] for m in got] == ["step_progress"] * 3 + ["step_completed"]
        assert [m["data"]["progress"] for m in got] == [None, 0.25, 0.8, 1.0]
        assert all(m["step"] == "render" and m["data"]["key"] == "k1" for m in got)
        assert got[2]["message"] == "s1.mp4: 80% rendered"
        wait_for(lambda: bus.subscribers(RenderProgressed) == 0, 30, "unsubscribed on close")
    finally:
        server.close()


def test_without_the_daemon_there_is_no_live_feed(tmp_path: Path) -> None:
    connect(tmp_path / "ledger.sqlite3").close()
    server = ThreadServer(standalone(tmp_path))
    try:
        url = server.url.replace("http", "ws") + f"/ws/renders?token={TOKEN}"
        with wsc.connect(url) as sock:
            with pytest.raises(ConnectionClosed):
                sock.recv(timeout=30)
            assert sock.protocol.close_rcvd is not None
            assert sock.protocol.close_rcvd.code == 1008
    finally:
        server.close()


def _stable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in ("runs_out_at", "days_left")} for r in rows]


def test_inventory_and_schedule_are_the_clis(live: LiveApi) -> None:
    cli = Daemon(live.ws, ("inventory", "--json"))
    assert cli.wait(60) == 0, cli.stderr
    printed = json.loads("".join(cli.raw))
    with live.client() as api:
        served = api.get("/api/inventory").json()
        assert api.get("/api/inventory", params={"account": "nobody"}).status_code == 404
        upcoming = api.get("/api/schedule", params={"days": 2}).json()
    assert printed and _stable(served) == _stable(printed)
    sched = Daemon(live.ws, ("schedule", "--json", "--days", "2"))
    assert sched.wait(60) == 0, sched.stderr
    assert upcoming == json.loads("".join(sched.raw))
