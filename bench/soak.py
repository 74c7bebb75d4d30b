"""Soak: thousands of posts through the daemon's own Publisher, with a fake clock.

    python bench/soak.py [--posts 10000] [--batch 1000] [--concurrency 4] [--kib 64]

Each post is a distinct small file planned in a real SQLite ledger (WAL, synchronous=FULL)
and taken by ``Publisher.work`` through the YouTube provider to the emulator over loopback
(upload → poll → published → archived). The emulator runs in a child process, so the RSS
column is the daemon's side alone (the emulator keeps every post, as a platform does; its
RSS is printed beside). Time is a fake clock: the
publisher's poll waits move it instead of sleeping, so only real work is measured.

For every batch it prints the wall time per post and the process's RSS at the batch's end;
the first batch is the baseline, and the last line puts the last batch beside it. Flat means
the ledger, the caches and the bus do not grow their cost with the number of posts behind
them. Every post on the emulator is checked: one per file, with the file's SHA-256.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from atroposd.bus import Bus
from atroposd.domain import FileIdentity, PostState
from atroposd.emulator import EmulatorServer
from atroposd.log import Redactor, configure
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers import REGISTRY
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger

ACCOUNT = "soak"


class FakeClock:
    """Wall and monotonic time that move only when told (the publisher's waits move it)."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC)
        self._mono = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


class Tokens:
    """The account's YouTube login, in memory."""

    def __init__(self) -> None:
        self._creds = {ACCOUNT: Credentials("", refresh_token=f"sandbox:{ACCOUNT}:soak")}

    def load(self, account: str, platform: str) -> Credentials:
        return self._creds[account]

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        self._creds[account] = creds


def rss_mib(pid: int | str = "self") -> float:
    """A process's resident set now (VmRSS), MiB."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_clip(folder: Path, index: int, kib: int) -> tuple[Drop, str, int]:
    """A distinct file of ``kib`` KiB and its caption; (drop, sha256, size)."""
    video = folder / f"clip{index:06d}.mp4"
    data = index.to_bytes(8, "big") + os.urandom(kib * 1024 - 8)
    video.write_bytes(data)
    caption = video.with_suffix(".txt")
    caption.write_text(f"Soak clip {index}\n\n#soak", encoding="utf-8")
    drop = Drop(
        video_path=video,
        caption_path=caption,
        sidecar_path=None,
        root=folder,
        clip_rel=video.name,
        caption=caption.read_text(encoding="utf-8"),
        sidecar_json=None,
        identity=FileIdentity.of(video),
    )
    return drop, hashlib.sha256(data).hexdigest(), len(data)


def serve_emulator(storage: Path, conn: Connection) -> None:
    """The emulator in its own process (it keeps every post, as a platform does)."""

    async def serve() -> None:
        server = EmulatorServer("127.0.0.1", 0, storage, processing_seconds=0.0)
        await server.start()
        conn.send(server.base_url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # until told to stop
        await server.stop()

    asyncio.run(serve())


def build_publisher(
    http: httpx.AsyncClient, ledger: Ledger, clock: FakeClock, base_url: str, scratch: Path
) -> Publisher:
    """The publisher as ``app.py`` wires it, over the YouTube provider; waits move the clock."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    ctx = ProviderContext(
        http=http,
        credentials=Tokens(),
        clock=clock,
        sandbox=True,
        sandbox_url=base_url,
        chunk_size=8 * 1024 * 1024,
        secrets={},
        overrides={},
    )
    options: Mapping[str, object] = {}
    return Publisher(
        ledger,
        {"youtube": REGISTRY["youtube"](ctx)},
        Bus(),
        clock,
        RetryPolicy(),
        Archiver(ledger, scratch / "posted", delete=False),
        lambda account, platform: options,
        lambda account, platform: True,
        polling=Polling(first=0.5, cap=30.0),
        sleep=sleep,
    )


async def batch(
    publisher: Publisher, ledger: Ledger, folder: Path, indices: range, args: argparse.Namespace
) -> dict[str, int]:
    """Plan one batch of distinct clips and publish them with ``args.concurrency`` workers."""
    hashes: dict[str, int] = {}
    work: asyncio.Queue[int] = asyncio.Queue()
    for index in indices:
        drop, digest, size = write_clip(folder, index, args.kib)
        hashes[digest] = index
        [post], _ = ledger.plan(digest, size, ACCOUNT, ["youtube"], drop)
        ready = ledger.transition(post.id, [PostState.PLANNED], PostState.READY)
        assert ready is not None
        work.put_nowait(post.id)

    async def worker() -> None:
        while not work.empty():
            post_id = work.get_nowait()
            await publisher.work(post_id)
            post = ledger.get(post_id)
            assert post is not None and post.state is PostState.PUBLISHED, post

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return hashes


async def soak(args: argparse.Namespace, scratch: Path) -> int:
    ours, theirs = multiprocessing.Pipe()
    emulator = multiprocessing.get_context("fork").Process(
        target=serve_emulator, args=(scratch / "emulator", theirs), daemon=True
    )
    emulator.start()
    base_url = str(ours.recv())
    clock = FakeClock()
    conn = connect(scratch / "state" / "ledger.sqlite3")
    ledger = Ledger(conn, clock)
    (scratch / "queue").mkdir()
    hashes: dict[str, int] = {}
    rows: list[tuple[float, float]] = []
    print(f"{'posts':>12}  {'ms/post':>8}  {'RSS MiB':>8}  {'emulator RSS MiB':>16}")
    async with httpx.AsyncClient(timeout=30.0) as http:
        publisher = build_publisher(http, ledger, clock, base_url, scratch)
        for start in range(0, args.posts, args.batch):
            indices = range(start, min(start + args.batch, args.posts))
            began = time.perf_counter()
            hashes |= await batch(publisher, ledger, scratch / "queue", indices, args)
            rows.append(((time.perf_counter() - began) * 1000 / len(indices), rss_mib()))
            print(
                f"{start + 1:>5}-{indices[-1] + 1:<6}  {rows[-1][0]:>8.2f}  {rows[-1][1]:>8.1f}"
                f"  {rss_mib(emulator.pid or 0):>16.1f}"
            )
        posts = (await http.get(f"{base_url}/_emulator/posts")).json()
    ours.send("stop")
    emulator.join(30)
    conn.close()
    seen = {p["sha256"] for p in posts}
    assert len(posts) == args.posts == len(seen) and seen == set(hashes), "posts do not match"
    (first_ms, first_rss), (last_ms, last_rss) = rows[0], rows[-1]
    print(
        f"first batch (baseline) {first_ms:.2f} ms/post, {first_rss:.1f} MiB | last batch "
        f"{last_ms:.2f} ms/post ({last_ms / first_ms:.2f}x), {last_rss:.1f} MiB "
        f"({last_rss - first_rss:+.1f} MiB) | {len(posts)} posts, one per file, hashes match"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--kib", type=int, default=64)
    args = parser.parse_args()
    shm = Path("/dev/shm")
    where = (
        shm
        if shm.is_dir() and shutil.disk_usage(shm).free > 4 * args.posts * args.kib * 1024
        else None
    )
    scratch = Path(tempfile.mkdtemp(prefix="atroposd-soak-", dir=where))
    try:
        with open(scratch.parent / f"{scratch.name}.log", "w") as log_file:
            # The daemon's JSON log lines, with the redactor, written as it writes them.
            configure(Redactor(), stream=log_file, json_lines=True)
            return asyncio.run(soak(args, scratch))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(scratch)
            os.unlink(scratch.parent / f"{scratch.name}.log")


if __name__ == "__main__":
    raise SystemExit(main())
