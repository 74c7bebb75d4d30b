"""sd_notify with the daemon as a child process and a NOTIFY_SOCKET the test owns.

READY=1 comes only once the start-up scan is done (the clips already in the folders are in the
ledger by then); WATCHDOG=1 comes at half WATCHDOG_USEC from the event loop itself, so it
stops while the loop is blocked (a sandbox-only test hook blocks it on SIGUSR1: the observer's
threads and any other thread run on meanwhile) and comes back after.
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import statistics
import time
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, wait_for
from tests.systemd.listener import Message, NotifyListener


def _age(video: Path) -> float:
    st = video.with_suffix(".txt").stat()  # written after the video
    return time.time() - max(st.st_mtime, st.st_ctime)


def _planned_paths(state: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{state / 'ledger.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT video_path FROM posts")}
    finally:
        conn.close()


def test_ready_comes_only_after_the_start_up_scan(ws: Workspace, emulator: Emulator) -> None:
    # Clips waiting before the start, in the default account's folder and another one's; a
    # thousand empty folders make the scan take a while.
    videos = [
        ws.drop("early", seed=31),
        ws.drop("nested", seed=32, folder=ws.queue / "default" / "deep"),
    ]
    for i in range(1000):
        (ws.queue / "default" / "deep" / f"empty{i}").mkdir(parents=True)
    emulator.fault("chunk", nth=1, action="delay", seconds=30)  # nothing finishes meanwhile
    # Quiet for longer than SETTLE_SECONDS (0.5) already, so the first scan takes them.
    wait_for(lambda: all(_age(v) > 1.0 for v in videos), 10, "clips quiet for 1 s")
    at_ready: list[set[str]] = []

    def look(message: Message) -> None:  # in the reader thread, the moment READY arrives
        if message.has("READY", "1"):
            at_ready.append(_planned_paths(ws.state))

    listener = NotifyListener(look)
    daemon = Daemon(ws, extra_env={**listener.env, "RESCAN_SECONDS": "600"})
    try:
        (ready,) = listener.wait("READY", "1")
        assert at_ready == [{str(v) for v in videos}], [
            (ln["event"], ln.get("clip")) for ln in daemon.lines
        ]  # both planned before READY was sent
        assert ready.fields["STATUS"].startswith("watching 2 folders, "), ready.fields
        assert daemon.events("daemon_started")
    finally:
        assert daemon.stop() == 0
        listener.close()
    stopping = listener.with_key("STOPPING", "1")
    assert stopping and stopping[0].at > ready.at


def _gaps(pings: list[Message]) -> list[float]:
    return [b.at - a.at for a, b in itertools.pairwise(pings)]


def test_watchdog_pings_come_at_half_the_timeout_and_stop_while_the_loop_is_blocked(
    ws: Workspace, emulator: Emulator
) -> None:
    listener = NotifyListener()
    env = {
        **listener.env,
        "WATCHDOG_USEC": "1000000",  # pings every 0.5 s
        "ATROPOSD_SANDBOX_BLOCK_LOOP_SECONDS": "3",
    }
    daemon = Daemon(ws, extra_env=env)
    try:
        listener.wait("READY", "1")
        before = listener.wait("WATCHDOG", "1", count=6)
        assert 0.4 <= statistics.median(_gaps(before)) <= 1.0, _gaps(before)
        daemon.proc.send_signal(signal.SIGUSR1)
        blocked = listener.wait_status("event loop blocked")
        unblocked = listener.wait_status("event loop unblocked")
        during = [m for m in listener.with_key("WATCHDOG") if blocked.at < m.at < unblocked.at]
        # 3 s blocked: a ping sent from anywhere but the loop would have come ~6 times.
        assert during == []
        assert unblocked.at - blocked.at >= 2.5
        count = len(listener.with_key("WATCHDOG"))
        listener.wait("WATCHDOG", "1", count=count + 2)  # the loop runs again: so do pings
    finally:
        assert daemon.stop() == 0
        listener.close()
