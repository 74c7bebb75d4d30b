"""The API's ledger reads run on threads of their own: a crowd of websocket clients (each
polls the ledger) or slow queries never take the worker threads the daemon's own blocking
work runs on (``asyncio.to_thread``: hashing, probes, file moves)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from atroposd.api.queries import Reader
from atroposd.store.db import connect


def test_busy_api_reads_leave_the_default_thread_pool_to_the_daemon(tmp_path: Path) -> None:
    connect(tmp_path / "ledger.sqlite3").close()
    reader = Reader(tmp_path / "ledger.sqlite3")
    release = threading.Event()

    def stuck(conn: sqlite3.Connection) -> int:
        release.wait(60)
        return int(conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0])

    async def main() -> int:
        reads = [asyncio.ensure_future(reader.run(stuck)) for _ in range(40)]
        try:
            # the daemon's own blocking call gets a thread while every API read waits
            return await asyncio.wait_for(asyncio.to_thread(lambda: 42), 30)
        finally:
            release.set()
            assert await asyncio.gather(*reads) == [0] * 40

    try:
        assert asyncio.run(main()) == 42
    finally:
        release.set()
        reader.close()
