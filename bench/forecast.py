"""Inventory forecast and schedule listing on a big ledger, against a plain SQL count.

    python bench/forecast.py [--accounts 50] [--clips 10000] [--runs 5] [--cli]

The ledger: a fresh SQLite file made by ``store.db.connect`` (the ledger's own schema and
migrations), filled with plain SQL inserts in one transaction: ``--clips`` clips spread over
``--accounts`` accounts, each clip planned for all six platforms of its account (10,000 clips
-> 60,000 waiting posts, 300 lanes). Every account has a weekly schedule in its own zone (two
slots on weekdays, one on Saturday, min spacing 60 min); a tenth of them post hourly on TikTok
(so TikTok's 15 per 24 h binds) and one in ten posts to X immediately; every fifth account
pins one clip in ten with a sidecar ``publish_at``.

Timed, median of ``--runs`` (each run from a fresh read-only connection, as the CLI does):
- baseline: ``SELECT account, platform, COUNT(*) ... GROUP BY`` over the waiting posts
  (``store.queue.waiting_counts``), the cheapest answer to "how many are queued";
- read: ``store.queue.queued_posts`` (the rows the forecast needs);
- forecast: ``schedule.forecast.forecast`` (every lane walked until its queue is placed);
- listing: ``schedule.forecast.upcoming`` for the next 7 days.
``--cli`` also times ``atroposd inventory --json`` and ``atroposd schedule --json`` as
processes (interpreter start-up included).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atroposd.config import UploadConfig
from atroposd.schedule.forecast import forecast, lanes_of, upcoming
from atroposd.store.db import connect
from atroposd.store.queue import open_readonly, queued_posts, waiting_counts

PLATFORMS = ("youtube", "instagram", "facebook", "tiktok", "snapchat", "x")
ZONES = ("America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles", "UTC")
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def config(accounts: int) -> dict[str, Any]:
    """The upload_config.json of the benchmark."""
    out: dict[str, Any] = {}
    for n in range(accounts):
        platforms: dict[str, Any] = {p: {"enabled": True} for p in PLATFORMS}
        if n % 10 == 0:
            hourly = [f"{h:02d}:00" for h in range(24)]
            platforms["tiktok"]["schedule"] = {"slots": {"daily": hourly}}
        if n % 10 == 1:
            platforms["x"]["schedule"] = {"mode": "immediate"}
        out[f"acct{n:03d}"] = {
            "schedule": {
                "timezone": ZONES[n % len(ZONES)],
                "slots": {"mon-fri": ["09:00", "18:00"], "sat": ["12:00"]},
                "min_spacing_minutes": 60,
            },
            "platforms": platforms,
        }
    return {"default_account": "acct000", "accounts": out}


def fill(path: Path, accounts: int, clips: int) -> tuple[int, float]:
    """Make the ledger with plain inserts; (posts, seconds)."""
    started = time.perf_counter()
    conn = connect(path)
    rng = random.Random(7)
    clip_rows, post_rows = [], []
    created = NOW - timedelta(days=60)
    for c in range(clips):
        sha = f"{c:064x}"
        account = f"acct{c % accounts:03d}"
        at = (created + timedelta(seconds=c)).isoformat(timespec="microseconds")
        clip_rows.append((sha, 1_000_000, at))
        pinned = None
        if (c % accounts) % 5 == 0 and c % 10 == 0:
            when = NOW + timedelta(hours=rng.randrange(1, 24 * 60))
            pinned = when.isoformat(timespec="microseconds")
        for platform in PLATFORMS:
            rel = f"clip{c:05d}.mp4"
            post_rows.append(
                (
                    sha,
                    account,
                    platform,
                    "ready",
                    pinned,
                    f"/q/{rel}",
                    f"/q/{rel[:-4]}.txt",
                    "/q",
                    rel,
                    "caption",
                    None,
                    at,
                    at,
                )
            )
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO clips(sha256, size, created_at) VALUES (?,?,?)", clip_rows)
    conn.executemany(
        "INSERT INTO posts(clip_sha256, account, platform, state, publish_at, video_path,"
        " caption_path, root, clip_rel, caption, sidecar_json, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        post_rows,
    )
    conn.execute("COMMIT")
    conn.close()
    return len(post_rows), time.perf_counter() - started


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``runs`` calls, and the last result."""
    wall, cpu, result = [], [], None
    for _ in range(runs):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    return statistics.median(wall), statistics.median(cpu), result


def cli(home: Path, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one ``atroposd <args> --json`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "atroposd", "--env-file", str(home / ".env"), *args, "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cli", action="store_true", help="also time the two commands")
    args = parser.parse_args()
    raw = config(args.accounts)
    lanes = lanes_of(UploadConfig.model_validate(raw).accounts)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        posts, fill_s = fill(home / "state" / "ledger.sqlite3", args.accounts, args.clips)
        print(f"ledger: {args.accounts} accounts x {len(PLATFORMS)} platforms, {args.clips} clips")
        print(f"        -> {posts} waiting posts, {len(lanes)} lanes; filled in {fill_s:.2f} s")

        def with_conn(fn: Callable[[Any], Any]) -> Callable[[], Any]:
            def run() -> Any:
                conn = open_readonly(home / "state")
                assert conn is not None
                try:
                    return fn(conn)
                finally:
                    conn.close()

            return run

        count = timed(with_conn(waiting_counts), args.runs)
        read = timed(with_conn(lambda c: queued_posts(c, NOW)), args.runs)
        rows = read[2]
        fc = timed(lambda: forecast(lanes, rows, NOW), args.runs)
        week = NOW + timedelta(days=7)
        up = timed(lambda: upcoming(lanes, rows, NOW, week), args.runs)
        counts, table, listed = count[2], fc[2], up[2]
        assert sum(counts.values()) == posts == len(rows) == sum(f.queued for f in table)
        binding = sum(1 for f in table if f.binding_limit not in (None, "schedule"))
        latest = max(f.runs_out_at for f in table if f.runs_out_at is not None)
        print(f"{'median of ' + str(args.runs):38}{'wall ms':>9}{'CPU ms':>9}")
        for name, (wall, cpu, _) in (
            ("plain SQL count (GROUP BY)", count),
            ("read the queue (queued_posts)", read),
            (f"forecast, {len(table)} lanes", fc),
            (f"listing, next 7 days ({len(listed)} posts)", up),
        ):
            print(f"{name:38}{wall * 1000:9.1f}{cpu * 1000:9.1f}")
        inv = (read[0] + fc[0], read[1] + fc[1])
        sch = (read[0] + up[0], read[1] + up[1])
        print(f"{'= inventory (read + forecast)':38}{inv[0] * 1000:9.1f}{inv[1] * 1000:9.1f}")
        print(f"{'= schedule (read + listing)':38}{sch[0] * 1000:9.1f}{sch[1] * 1000:9.1f}")
        print(f"inventory / SQL count, CPU: {inv[1] / count[1]:.0f}x")
        print(f"lanes where a cap binds: {binding}; latest run-out {latest.isoformat()}")
        if args.cli:
            (home / "upload_config.json").write_text(json.dumps(raw))
            env = f"STATE_DIR={home / 'state'}\nUPLOAD_CONFIG={home / 'upload_config.json'}\n"
            (home / ".env").write_text(env)
            now = ["--now", NOW.isoformat()]
            for command in ("inventory", "schedule"):
                runs = [cli(home, command, *now) for _ in range(3)]
                wall = statistics.median(r[0] for r in runs)
                cpu = statistics.median(r[1] for r in runs)
                name = f"atroposd {command} --json (process)"
                print(f"{name:38}{wall * 1000:9.1f}{cpu * 1000:9.1f}")
            start_up = statistics.median(cli(home, "--version")[1] for _ in range(3))
            print(f"{'  (atroposd --version: start-up only)':38}{'':9}{start_up * 1000:9.1f}")


if __name__ == "__main__":
    main()
