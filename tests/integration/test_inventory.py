"""`atroposd inventory` and `atroposd schedule`: the --json shapes the README documents, on a
real ledger file, with and without a daemon running beside them."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from atroposd import schedule_cli
from atroposd.domain import PostState as S
from atroposd.log import Redactor
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.schedule.test_forecast import NOW, raw_config
from tests.support import Daemon, Emulator, Workspace, wait_for


class Steps:
    """A clock that moves a minute on each reading (posts get distinct created_at)."""

    def __init__(self) -> None:
        self.at = NOW - timedelta(days=30)

    def now(self) -> datetime:
        self.at += timedelta(minutes=1)
        return self.at

    def monotonic(self) -> float:
        return 0.0


def plan(ledger: Ledger, account: str, platform: str, n: int, tag: str, **kw: Any) -> None:
    for i in range(n):
        name = f"{tag}-{i:03d}.mp4"
        drop = Drop(Path(f"/q/{name}"), Path(f"/q/{name}.txt"), None, Path("/q"), name, "c", None)
        ledger.plan(
            hashlib.sha256(name.encode()).hexdigest(),
            1000,
            account,
            [platform],
            drop,
            kw.get("publish_at"),
        )


def write_home(home: Path) -> Path:
    """The fixture of tests/schedule/test_forecast.py as files: .env, upload_config, ledger."""
    home.mkdir(parents=True)
    (home / "upload_config.json").write_text(json.dumps(raw_config()))
    env = home / ".env"
    env.write_text(f"STATE_DIR={home / 'state'}\nUPLOAD_CONFIG={home / 'upload_config.json'}\n")
    ledger = Ledger(connect(home / "state" / "ledger.sqlite3"), Steps())
    plan(ledger, "alice", "youtube", 13, "ayt")
    pinned = datetime.fromisoformat("2026-03-05T12:00:00-05:00")
    plan(ledger, "alice", "youtube", 1, "apin", publish_at=pinned)
    plan(ledger, "alice", "tiktok", 40, "att")
    plan(ledger, "bob", "instagram", 30, "big")
    plan(ledger, "bob", "x", 2, "bx")
    return env


def cli(env_file: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """``atroposd <args> --json`` as a separate process, as a user runs it; the parsed output."""
    out = subprocess.run(
        [sys.executable, "-m", "atroposd", "--env-file", str(env_file), *args, "--json"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return json.loads(out)


def run_cli(env_file: Path, *args: str) -> Any:
    return cli(env_file, *args, "--now", NOW.isoformat())


def test_inventory_json_is_the_documented_shape_with_the_hand_computed_dates(
    tmp_path: Path,
) -> None:
    env = write_home(tmp_path / "home")
    got = run_cli(env, "inventory")
    # Values computed by hand in tests/schedule/test_forecast.py.
    assert got == [
        {
            "account": "alice",
            "platform": "tiktok",
            "mode": "slots",
            "queued": 40,
            "posts_per_week": 167,
            "runs_out_at": "2026-03-04T18:00:00-05:00",
            "days_left": 2.42,
            "binding_limit": "tiktok_posts_24h",
        },
        {
            "account": "alice",
            "platform": "youtube",
            "mode": "slots",
            "queued": 14,
            "posts_per_week": 11,
            "runs_out_at": "2026-03-09T18:00:00-04:00",
            "days_left": 7.38,
            "binding_limit": "schedule",
        },
        {
            "account": "bob",
            "platform": "facebook",
            "mode": "slots",
            "queued": 0,
            "posts_per_week": 7,
            "runs_out_at": None,
            "days_left": 0.0,
            "binding_limit": "schedule",
        },
        {
            "account": "bob",
            "platform": "instagram",
            "mode": "slots",
            "queued": 30,
            "posts_per_week": 7,
            "runs_out_at": "2026-04-01T07:30:00+01:00",
            "days_left": 29.73,
            "binding_limit": "schedule",
        },
        {
            "account": "bob",
            "platform": "x",
            "mode": "immediate",
            "queued": 2,
            "posts_per_week": None,
            "runs_out_at": None,
            "days_left": None,
            "binding_limit": None,
        },
    ]


def test_schedule_json_lists_the_upcoming_posts_in_time_order(tmp_path: Path) -> None:
    env = write_home(tmp_path / "home")
    # The oldest YouTube clip took a slot already and failed; it retries at 10:30 EST.
    ledger = Ledger(connect(tmp_path / "home" / "state" / "ledger.sqlite3"), Steps())
    first = ledger.list_posts(None, "alice", "youtube")[0]
    ledger.transition(first.id, [S.PLANNED], S.READY)
    ledger.transition(first.id, [S.READY], S.UPLOADING)
    retry = datetime.fromisoformat("2026-03-02T10:30:00-05:00")
    ledger.transition(first.id, [S.UPLOADING], S.READY, attempts=1, retry_at=retry)
    got = run_cli(env, "schedule", "--account", "alice", "--days", "0.5")
    # Until Mon 2 March 20:00 EST: YouTube's 09:00 and 18:00 slots take the next two clips, the
    # retry goes at its time between them; TikTok every hour 09:00..20:00 (12 of the 15 its
    # cap allows in 24 h).
    youtube = [(r["at"], r["clip"]) for r in got if r["platform"] == "youtube"]
    assert youtube == [
        ("2026-03-02T09:00:00-05:00", "ayt-001.mp4"),
        ("2026-03-02T10:30:00-05:00", "ayt-000.mp4"),
        ("2026-03-02T18:00:00-05:00", "ayt-002.mp4"),
    ]
    tiktok = [r["at"] for r in got if r["platform"] == "tiktok"]
    assert tiktok == [f"2026-03-02T{h:02d}:00:00-05:00" for h in range(9, 21)]
    assert [r["at"] for r in got] == sorted(r["at"] for r in got)  # one zone: text order is time
    assert set(got[0]) == {"at", "account", "platform", "clip", "post_id"}
    assert all(isinstance(r["post_id"], int) and r["account"] == "alice" for r in got)


def inventory(ws: Workspace) -> list[dict[str, Any]]:
    return list(cli(ws.root / ".env", "inventory", env=ws.env))


def test_inventory_reads_the_ledger_of_a_running_daemon_and_of_a_stopped_one(
    ws: Workspace, emulator: Emulator
) -> None:
    cfg = json.loads(ws.config_path.read_text())
    cfg["accounts"]["default"]["schedule"] = {"timezone": "UTC", "slots": {"daily": ["09:00"]}}
    ws.config_path.write_text(json.dumps(cfg))
    # Whether or not the scheduler holds the clip for its slot (it depends on the time of day:
    # the 09:00 UTC slot is within the 2 h catch-up grace before 11:00 UTC only), it stays
    # queued: every upload start is refused (503) until the test ends.
    emulator.fault("create", code=503, times=1000)
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        ws.drop("waiting", seed=301)
        daemon.wait_event("PLAN")  # in the ledger: held for its slot, or tried and refused
        running = wait_for(lambda: [r for r in inventory(ws) if r["queued"] == 1], 60, "queued")
        assert running[0]["account"] == "default" and running[0]["platform"] == "youtube"
        assert running[0]["posts_per_week"] == 7 and running[0]["binding_limit"] == "schedule"
    finally:
        assert daemon.stop() == 0
    stopped = inventory(ws)
    assert [(r["platform"], r["queued"]) for r in stopped] == [("youtube", 1)]
    if daemon.events("ERR"):
        # The clip was tried (the slot's catch-up): it goes at its retry time, taking no slot.
        assert (stopped[0]["runs_out_at"], stopped[0]["days_left"]) == (None, 0.0)
    else:
        # Held for the next 09:00 UTC slot, which it fills: the queue runs out then.
        assert stopped[0]["runs_out_at"] is not None and stopped[0]["runs_out_at"].endswith(
            "T09:00:00+00:00"
        )


def test_an_unreadable_ledger_is_one_clear_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a traceback: a ledger that is not a database, one without the ledger's tables, and
    one from an older atroposd (not migrated yet: the read-only commands never migrate). The
    first as a user runs it (a process); the others in-process (the same code path, cheaper)."""
    env = write_home(tmp_path / "home")
    path = tmp_path / "home" / "state" / "ledger.sqlite3"
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(b"not a database" * 300)
    out = subprocess.run(
        [sys.executable, "-m", "atroposd", "--env-file", str(env), "inventory"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"atroposd: cannot read the ledger {path}: file is not a database"
    ]
    old = sqlite3.connect(tmp_path / "old.sqlite3")
    old.execute("PRAGMA user_version=1")
    old.close()
    for spoiled in (b"", (tmp_path / "old.sqlite3").read_bytes()):
        path.write_bytes(spoiled)
        for command in ("inventory", "schedule"):
            args = argparse.Namespace(
                env_file=env, command=command, account=None, json=True, now=NOW, days=7.0
            )
            assert schedule_cli.run(args, Redactor()) == 2
            got = capsys.readouterr()
            lines = got.err.strip().splitlines()
            assert got.out == "" and len(lines) == 1, (command, got)
            assert lines[0].startswith(f"atroposd: cannot read the ledger {path}: ")
            assert "start the daemon once to upgrade it" in lines[0]
