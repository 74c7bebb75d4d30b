"""Clients that connect and leave mid-stream, again and again, leave nothing behind on the
server: no task (each socket runs a sender, a receiver, producers and per-message waits), no
bus subscription. Garbage collection is off while it runs: a pending task that only the
collector would reclaim ("Task was destroyed but it is pending!") counts as a leak."""

from __future__ import annotations

import asyncio
import gc
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client as wsc

from atroposd.bus import Bus, PostChanged, UploadProgressed
from atroposd.clock import SystemClock
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.api.support import TOKEN, ThreadServer, standalone
from tests.support import wait_for


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


def test_clients_leaving_mid_stream_leave_no_task_and_no_subscription(
    tmp_path: Path, no_gc: None
) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    ledger = Ledger(conn, SystemClock())
    video = Path("/q/a.mp4")
    drop = Drop(video, video.with_suffix(".txt"), None, Path("/q"), "a.mp4", "a\n", None)
    ledger.plan(hashlib.sha256(b"a").hexdigest(), 10, "default", ("youtube", "x"), drop)
    bus = Bus()
    server = ThreadServer(standalone(tmp_path, events=bus))

    def tasks() -> int:
        async def count() -> int:
            return len(asyncio.all_tasks())

        return asyncio.run_coroutine_threadsafe(count(), server.loop).result(10)

    try:
        base = tasks()
        url = server.url.replace("http", "ws") + f"/ws/jobs/1?token={TOKEN}"
        for _ in range(60):
            with wsc.connect(url) as sock:
                sock.recv()  # the first replayed message, then away
        wait_for(lambda: tasks() <= base, 30, f"the server back to {base} tasks")
        assert bus.subscribers(UploadProgressed) == bus.subscribers(PostChanged) == 0
    finally:
        server.close()
        conn.close()
