"""``atroposd upload --once``: exit codes, --dry-run touches nothing, summary per platform."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from tests.support import Daemon, Emulator, Workspace


def test_dry_run_logs_plan_and_touches_nothing(ws: Workspace, emulator: Emulator) -> None:
    videos = [ws.drop(f"d{i}", seed=50 + i) for i in range(2)]
    run = Daemon(ws, ("upload", "--once", "--dry-run"))
    assert run.wait() == 0, "".join(run.stderr)
    plans = run.events("PLAN", platform="youtube", dry_run=True)
    assert sorted(p["clip"] for p in plans) == ["d0.mp4", "d1.mp4"]
    assert emulator.posts() == [] and emulator.uploads() == []
    assert all(v.exists() for v in videos)
    assert not (ws.state / "ledger.sqlite3").exists()


def test_once_publishes_then_has_nothing_left(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("a", seed=60)
    ws.drop("b", seed=61)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.stderr)
    assert run.events("summary", platform="youtube", published=2)
    assert len(emulator.posts()) == 2
    again = Daemon(ws, ("upload", "--once"))
    assert again.wait() == 0
    assert again.events("summary", note="nothing ready to upload")
    dry = Daemon(ws, ("upload", "--once", "--dry-run"))
    assert dry.wait() == 0 and dry.events("PLAN") == []


def test_once_exits_1_when_a_post_fails_and_2_on_usage_error(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.drop("bad", seed=62)
    emulator.fault("create", code=400)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 1
    assert run.events("summary", platform="youtube", failed=1)
    usage = Daemon(ws, ("upload", "--once", "--platform", "myspace"))
    assert usage.wait() == 2 and "myspace" in "".join(usage.stderr)


def test_on_a_terminal_a_progress_bar_and_readable_lines(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("tty", seed=63, seconds=2, bitrate="2M")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
    env.update(ws.env)
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "atroposd", "--env-file", str(ws.root / ".env"), "upload", "--once"],
        cwd=ws.root,
        env=env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(60) == 0
    screen = b"".join(chunks).decode(errors="replace")
    assert "100%" in screen and "[#####" in screen  # the progress bar
    assert "OK" in screen and '"event"' not in screen  # console lines, not JSON
    assert len(emulator.posts()) == 1
