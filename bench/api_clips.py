"""``GET /api/clips`` latency with 100,000 clips in the ledger, beside the bare SQLite query of
the same page, in one run.

    python bench/api_clips.py [--clips 100000] [--pages 400] [--limit 20]

A scratch ledger (the real schema, every migration) gets ``--clips`` clips of one account plus
a tenth as many of another, 1-2 posts each, with their history rows. The API is the real app
served as ``uvicorn --factory atroposd.api:create_app`` (read-only, as a desktop machine without
the daemon would) in its own process on a free loopback port; the client is one keep-alive
``httpx.Client``.
Pages: the first page, then ``--pages`` random cursors spread over the whole library (deep
pages cost the same as the first with a keyset). Printed, in ms:

- http: ``GET /api/clips?accountId=&limit=&cursor=`` end to end (auth, query, JSON);
- page query: ``queries.page`` on its own connection (the two SQL statements the route runs);
- bare select: one ``SELECT`` of the page's rows (posts JOIN clips by the same keyset), the
  floor any implementation pays;
- the server process's CPU per request (from /proc), which a loaded machine does not inflate
  the way it inflates wall-clock latency.

The scratch dir is removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atroposd.api import queries
from atroposd.api.jobs import encode_cursor
from atroposd.store.db import connect

TOKEN = "b" * 40
NOW = "2026-12-01T00:00:00.000000+00:00"


def seed(path: Path, clips: int) -> list[int]:
    """The ledger with ``clips`` clips of ``main`` (+10% of ``other``); the main job ids."""
    conn = connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    heads = []
    post_id = 0
    for i in range(clips + clips // 10):
        account = "main" if i % 11 else "other"
        sha = hashlib.sha256(str(i).encode()).hexdigest()
        conn.execute("INSERT INTO clips VALUES (?,?,?)", (sha, 1_000_000 + i, NOW))
        for platform in ("youtube", "x")[: 1 + i % 2]:
            post_id += 1
            if platform == "youtube" and account == "main":
                heads.append(post_id)
            conn.execute(
                "INSERT INTO posts(id, clip_sha256, account, platform, state, video_path,"
                " caption_path, root, clip_rel, caption, created_at, updated_at, bytes_sent)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    post_id,
                    sha,
                    account,
                    platform,
                    "published",
                    f"/q/c{i}.mp4",
                    f"/q/c{i}.txt",
                    "/q",
                    f"c{i}.mp4",
                    f"Clip {i}\n\n#shorts\n",
                    NOW,
                    NOW,
                    1_000_000 + i,
                ),
            )
            for frm, to in (
                (None, "planned"),
                ("planned", "ready"),
                ("ready", "uploading"),
                ("uploading", "published"),
            ):
                conn.execute(
                    "INSERT INTO post_history(post_id, from_state, to_state, at) VALUES (?,?,?,?)",
                    (post_id, frm, to, NOW),
                )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return heads


BARE = (
    "SELECT p.*, c.size FROM posts p JOIN clips c ON c.sha256 = p.clip_sha256"
    " WHERE p.account = ? AND p.id < ? ORDER BY p.id DESC LIMIT ?"
)


def ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {statistics.median(samples) * 1e3:7.3f}  p99 {q[98] * 1e3:7.3f}  n={len(samples)}"


def serve(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``uvicorn --factory atroposd.api:create_app`` over the scratch ledger, in its own
    process (a server in the client's process would share its GIL)."""
    config = state / "upload_config.json"
    config.write_text(json.dumps({"default_account": "main", "accounts": {"main": {}}}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "ATROPOS"))}
    env.update(STATE_DIR=str(state), API_TOKEN=TOKEN, UPLOAD_CONFIG=str(config))
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
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=state,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metrics_scrape(client: httpx.Client) -> tuple[float, list[float]]:
    """One ``/metrics`` scrape's time, and ``/healthz`` latencies measured while it runs."""
    import threading

    done = threading.Event()
    took: list[float] = []

    def scrape() -> None:
        t0 = time.perf_counter()
        assert client.get("/metrics").status_code == 200
        took.append(time.perf_counter() - t0)
        done.set()

    thread = threading.Thread(target=scrape)
    thread.start()
    beside: list[float] = []
    with httpx.Client(base_url=str(client.base_url)) as probe:
        while not done.is_set() or not beside:
            t0 = time.perf_counter()
            probe.get("/healthz")
            beside.append(time.perf_counter() - t0)
    thread.join()
    return took[0], beside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--limit", type=int, default=20)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="api-clips-"))
    try:
        started = time.perf_counter()
        heads = seed(scratch / "ledger.sqlite3", args.clips)
        size = (scratch / "ledger.sqlite3").stat().st_size
        print(
            f"ledger: {len(heads)} clips of 'main' (+{args.clips // 10} of 'other'),"
            f" {size / 2**20:.1f} MiB, seeded in {time.perf_counter() - started:.1f}s"
        )
        rng = random.Random(7)
        befores = [queries.MAX_ID] + [rng.choice(heads) for _ in range(args.pages)]
        server, url = serve(scratch)
        http: list[float] = []
        page: list[float] = []
        bare: list[float] = []
        conn = sqlite3.connect(scratch / "ledger.sqlite3")
        conn.row_factory = sqlite3.Row
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, headers=headers) as client:
            for _ in range(20):  # warm-up: caches, connection, the first JSON encode
                client.get("/api/clips", params={"accountId": "main", "limit": args.limit})
            cpu0 = cpu_seconds(server.pid)
            for before in befores:
                params = {"accountId": "main", "limit": args.limit}
                if before != queries.MAX_ID:
                    params["cursor"] = encode_cursor(before)
                t0 = time.perf_counter()
                got = client.get("/api/clips", params=params)
                t1 = time.perf_counter()
                assert got.status_code == 200 and len(got.json()["clips"]) <= args.limit
                queries.page(conn, "main", before, args.limit)
                t2 = time.perf_counter()
                conn.execute(BARE, ("main", before, args.limit)).fetchall()
                t3 = time.perf_counter()
                http.append(t1 - t0)
                page.append(t2 - t1)
                bare.append(t3 - t2)
            server_cpu = (cpu_seconds(server.pid) - cpu0) / len(befores)
            scrape, beside = metrics_scrape(client)
        server.terminate()
        server.wait(30)
        conn.close()
        print(f"GET /api/clips (limit {args.limit}, first page + random cursors):")
        print(f"  http          {ms(http)}")
        print(f"  page query    {ms(page)}")
        print(f"  bare select   {ms(bare)}")
        print(f"  server CPU per request {server_cpu * 1e3:.2f} ms (load-independent)")
        print(
            f"GET /metrics {scrape * 1e3:.0f} ms; /healthz during it, worst of"
            f" {len(beside)}: {max(beside) * 1e3:.1f} ms (the scrape runs off the event loop)"
        )
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
