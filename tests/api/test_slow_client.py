"""A websocket client that never reads costs the daemon nothing: the bus goes on, its socket's
outbox drops the oldest progress, and a client that reads still gets every state change.

The job has a long history (2,000 rows, ~8.4 MB of messages), more than the kernel holds for a
socket (~3 MB here): the silent client's sender is certainly blocked in its replay when the
progress comes, so its outbox must drop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import websockets.sync.client as wsc

from atroposd.bus import Bus, PostChanged, UploadProgressed
from atroposd.clock import SystemClock
from atroposd.domain import PostState
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.api.support import TOKEN, ThreadServer, standalone
from tests.api.test_lifecycle import _silent_client
from tests.support import wait_for

S = PostState
FLOOD = 2_000
HISTORY = 2_000


def test_a_client_that_never_reads_is_dropped_from_while_the_others_get_every_change(
    tmp_path: Path,
) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    ledger = Ledger(conn, SystemClock())
    drop = Drop(Path("/q/a.mp4"), Path("/q/a.txt"), None, Path("/q"), "a.mp4", "A\n", None)
    ledger.plan(hashlib.sha256(b"a").hexdigest(), 10**9, "default", ["youtube"], drop)
    for src, dst in ((S.PLANNED, S.READY), (S.READY, S.UPLOADING)):
        ledger.transition(1, [src], dst)
    note = "still uploading: " + "x" * 4000  # ~4.2 KB a message: ~8.4 MB of replay
    at = "2026-12-01T00:00:00.000000+00:00"
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO post_history(post_id, from_state, to_state, at, note) VALUES (1,?,?,?,?)",
        [("uploading", "uploading", at, note)] * HISTORY,
    )
    conn.execute("COMMIT")
    bus = Bus()
    server = ThreadServer(standalone(tmp_path, events=bus))
    silent = _silent_client(server.url, f"/ws/jobs/1?token={TOKEN}")
    got: list[dict[str, Any]] = []

    def read() -> None:
        url = server.url.replace("http", "ws") + "/ws/jobs/1"
        with wsc.connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as sock:
            for raw in sock:
                got.append(json.loads(raw))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_for(lambda: bus.subscribers(UploadProgressed) == 2, 30, "both sockets subscribed")

        async def flood() -> None:
            for done in range(1, FLOOD + 1):
                bus.publish(UploadProgressed(1, done * 50_000, FLOOD * 50_000))
                if done % 50 == 0:
                    await asyncio.sleep(0)  # each socket's forwarder and sender run in between

        asyncio.run_coroutine_threadsafe(flood(), server.loop).result(120)
        wait_for(lambda: any(m["type"] == "step_progress" for m in got), 60, "progress read")
        ledger.transition(1, [S.UPLOADING], S.PUBLISHED, remote_id="v1", url="https://y/v1")
        server.call(bus.publish, PostChanged(1, S.PUBLISHED))
        reader.join(60)
        assert not reader.is_alive()
        assert [m["type"] for m in got[-2:]] == ["OK", "pipeline_completed"], got[-3:]
        changes = [m["data"]["to"] for m in got if m["type"] == "state_changed"]
        assert changes == ["planned", "ready", "uploading", *["uploading"] * HISTORY, "published"]
        with server.client() as api:
            before = _dropped(api)  # the reading socket's, counted when it closed
            silent.close()  # the silent socket's count is added when it goes
            after = wait_for(lambda: _dropped(api) > before and _dropped(api), 30, "its drops")
        assert after - before > 0, (before, after)  # it fell behind: its progress dropped
    finally:
        silent.close()
        server.close()
        conn.close()


def _dropped(api: httpx.Client) -> float:
    for line in api.get("/metrics").text.splitlines():
        if line.startswith("atroposd_api_progress_dropped_total "):
            return float(line.split()[1])
    raise AssertionError("no atroposd_api_progress_dropped_total")
