"""Event-loop lag while the daemon's blocking hot paths run, on this machine's disk.

    python bench/loop_stall.py [--posts 200] [--rows 10000] [--hash-mib 256]

A probe task asks to wake every 1 ms and records how late it woke: that lateness is how long
the loop was held by whatever ran meanwhile (a websocket, the watcher, the sd_notify ping all
wait that long). Each scenario runs the real code on a real SQLite ledger (WAL,
synchronous=FULL) in a scratch dir on the same filesystem as the default STATE_DIR (removed
at the end). Printed per scenario: probe lag p50 / p99 / max in ms, how many wake-ups were
more than 10 ms late, and the scenario's wall time.

Scenarios:
- idle: the probe alone (the floor on this machine).
- ledger: --posts posts through plan, ready, uploading, a saved handle, three progress
  saves, processing, published; one ``await asyncio.sleep(0)`` between calls, as the
  daemon's tasks interleave. Also prints ms per commit.
- sweep, first pass: --rows published posts whose files are gone and not yet marked
  (a ledger upgraded to migration 4): ``Reconciler.step()`` (sliced) vs
  ``finish_archiving()`` in one call (what an unsliced pass would hold).
- sweep, steady: the same rows once marked: ``Reconciler.step()``.
- hash: SHA-256 of a --hash-mib file through ``asyncio.to_thread`` (as intake does) vs on
  the loop.
- vault save: Fernet encrypt + temp file + fsync + rename + dir fsync, through
  ``asyncio.to_thread`` (as ``providers/auth/oauth2.py`` calls it) vs on the loop.
- socket probe: ``socket.create_connection`` to a closed local port (start-up check).
- redactor: a token refresh followed by a log line (the rebuild), 200 times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atroposd.bus import Bus
from atroposd.domain import PostState
from atroposd.log import Redactor
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.intake import sha256_file
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.reconcile import Reconciler
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers.base import Credentials
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from atroposd.vault import Vault

S = PostState
TICK = 0.001
REPO = Path(__file__).resolve().parent.parent


class Clock:
    """The system clock, as the daemon uses it."""

    def now(self) -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


async def measure(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` beside the lag probe and print the probe's lateness."""
    loop, lags, done = asyncio.get_running_loop(), [], asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(TICK)
            lags.append((loop.time() - start - TICK) * 1e3)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    lags.clear()
    t0 = time.perf_counter()
    result = await work()
    wall = time.perf_counter() - t0
    done.set()
    await task
    lags = lags or [0.0]
    p99 = statistics.quantiles(lags, n=100)[98] if len(lags) >= 2 else lags[0]
    late = sum(1 for lag in lags if lag > 10)
    print(
        f"{name:<44} {statistics.median(lags):>7.2f} {p99:>7.2f} {max(lags):>8.2f}"
        f" {late:>6} {wall:>8.2f}"
    )
    return result


def _drop(folder: Path, n: int) -> Drop:
    return Drop(folder / f"c{n}.mp4", folder / f"c{n}.txt", None, folder, f"c{n}.mp4", "cap", None)


def _publishing_steps(ledger: Ledger, pid: int) -> list[Callable[[], Any]]:
    """The ledger writes one post makes from ready to published, in order."""
    return [
        lambda: ledger.transition(pid, [S.PLANNED], S.READY),
        lambda: ledger.transition(pid, [S.READY], S.UPLOADING),
        lambda: ledger.set_fields(pid, remote_ref='{"uri": "https://u/1"}'),
        *[lambda d=d: ledger.set_fields(pid, bytes_sent=d) for d in (1, 2, 3)],
        lambda: ledger.transition(pid, [S.UPLOADING], S.PROCESSING),
        lambda: ledger.transition(pid, [S.PROCESSING], S.PUBLISHED),
    ]


async def ledger_path(ledger: Ledger, folder: Path, posts: int) -> list[float]:
    """The per-post commits of the publishing path; returns ms per commit."""
    commits: list[float] = []

    async def timed(call: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = call()
        commits.append((time.perf_counter() - t0) * 1e3)
        await asyncio.sleep(0)
        return out

    for n in range(posts):
        new, _ = await timed(
            lambda n=n: ledger.plan(f"{n:064x}", 1, "a", ["youtube"], _drop(folder, n))
        )
        steps = _publishing_steps(ledger, new[0].id)
        for step in steps:
            await timed(step)
    return commits


def bulk_published(conn: sqlite3.Connection, gone: Path, rows: int) -> None:
    """``rows`` published posts whose files are gone (one statement per table)."""
    at = "2026-01-01T00:00:00.000000+00:00"
    cte = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
    conn.execute(
        f"{cte} INSERT INTO clips(sha256, size, created_at)"
        " SELECT printf('%064d', i + 1000000), 1, ? FROM n",
        (rows, at),
    )
    conn.execute(
        f"{cte} INSERT INTO posts(clip_sha256, account, platform, state, video_path,"
        " caption_path, root, clip_rel, caption, created_at, updated_at)"
        " SELECT printf('%064d', i + 1000000), 'a', 'youtube', 'published',"
        " ? || '/g' || i || '.mp4', ? || '/g' || i || '.txt', ?, 'g' || i || '.mp4', '', ?, ?"
        " FROM n",
        (rows, str(gone), str(gone), str(gone), at, at),
    )


def reconciler(ledger: Ledger, archive: Path) -> Reconciler:
    archiver = Archiver(ledger, archive, delete=False)
    publisher = Publisher(
        ledger, {}, Bus(), Clock(), RetryPolicy(), archiver, lambda a, p: {}, lambda a, p: True
    )
    return Reconciler(ledger, publisher, archiver, Clock())


async def sweeps(ledger: Ledger, conn: sqlite3.Connection, scratch: Path, rows: int) -> None:
    bulk_published(conn, scratch / "gone", rows)
    rec = reconciler(ledger, scratch / "archive")
    await measure(f"sweep, first pass, sliced step() ({rows})", rec.step)
    conn.execute("UPDATE posts SET cleared_at = NULL")

    async def unsliced() -> None:
        rec.finish_archiving()

    await measure(f"sweep, first pass, one call ({rows})", unsliced)
    await measure(f"sweep, steady, step() ({rows} archived)", reconciler(ledger, scratch).step)


async def hashing(scratch: Path, mib: int) -> None:
    video = scratch / "big.mp4"
    with video.open("wb") as handle:
        for _ in range(mib):
            handle.write(os.urandom(1 << 20))
    await measure(
        f"hash {mib} MiB, asyncio.to_thread", lambda: asyncio.to_thread(sha256_file, video)
    )

    async def on_loop() -> None:
        sha256_file(video)

    await measure(f"hash {mib} MiB, on the loop (baseline)", on_loop)
    video.unlink()


async def small_blocking(scratch: Path) -> None:
    vault = Vault(scratch / "tokens", Fernet.generate_key().decode(), sandbox=False)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    holder.close()  # nothing listens there now

    def creds(n: int) -> Credentials:
        return Credentials(access_token=f"ya29.{n:040d}", refresh_token="1//r")

    async def saves() -> None:
        for n in range(20):
            vault.save("a", "youtube", creds(n))
            await asyncio.sleep(0.005)

    async def threaded_saves() -> None:
        for n in range(20):
            await asyncio.to_thread(vault.save, "a", "youtube", creds(n))
            await asyncio.sleep(0.005)

    async def probes() -> None:
        for _ in range(20):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            await asyncio.sleep(0.005)

    async def redactions() -> None:
        redactor = Redactor()
        for key in range(40):
            redactor.current((f"acct{key}", "x"), f"tok-{key:050d}", f"ref-{key:050d}")
        for n in range(200):
            redactor.current(("acct0", "youtube"), f"ya29.{n:060d}")
            redactor(None, "info", {"event": "upload_done", "url": "https://youtu.be/x"})
            await asyncio.sleep(0.001)

    await measure("vault save x20, to_thread (as oauth2.py)", threaded_saves)
    await measure("vault save x20, on the loop (baseline)", saves)
    await measure("socket probe x20 (closed local port)", probes)
    await measure("redactor: refresh + log line x200", redactions)


async def main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="atroposd-loop-stall-", dir=args.dir))
    try:
        conn = connect(scratch / "ledger.sqlite3")
        ledger = Ledger(conn, Clock())
        print(f"scratch {scratch} (same filesystem as STATE_DIR defaults: {args.dir})")
        print(
            f"{'scenario':<44} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>8} {'>10ms':>6} {'wall s':>8}"
        )
        await measure("idle (probe alone, 0.5 s)", lambda: asyncio.sleep(0.5))
        commits = await measure(
            f"ledger: {args.posts} posts, 10 commits each",
            lambda: ledger_path(ledger, scratch, args.posts),
        )
        print(
            f"{'':<4}commit ms: median {statistics.median(commits):.2f},"
            f" p99 {statistics.quantiles(commits, n=100)[98]:.2f}, max {max(commits):.2f}"
            f" ({len(commits)} commits, synchronous=FULL)"
        )
        await sweeps(ledger, conn, scratch, args.rows)
        await hashing(scratch, args.hash_mib)
        await small_blocking(scratch)
        conn.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--hash-mib", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=REPO.parent)
    asyncio.run(main(parser.parse_args()))
