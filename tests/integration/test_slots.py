"""The daemon in sandbox with a slot every minute: posts reach the emulator one per slot, in
queue order (real time, real HTTP; about two minutes, mostly idle)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.support import Daemon, Emulator, Workspace


@pytest.mark.timeout(240)  # real minutes: the first slot at start, then two minute marks
def test_one_post_per_minute_slot_in_queue_order(ws: Workspace, emulator: Emulator) -> None:
    config = json.loads(ws.config_path.read_text())
    config["accounts"]["default"]["schedule"] = {"timezone": "Europe/London", "cron": "* * * * *"}
    ws.config_path.write_text(json.dumps(config))
    for i in range(3):
        ws.drop(f"clip{i}", seed=90 + i)
    daemon = Daemon(ws)
    try:
        oks = daemon.wait_event("OK", count=3, timeout=200, platform="youtube")
        taken = daemon.events("slot_taken", platform="youtube")
        plans = daemon.events("PLAN", platform="youtube")
        failed = daemon.events("task_failed")
    finally:
        assert daemon.stop() == 0
    assert not failed
    assert len(taken) == 3 and len(emulator.posts()) == 3
    slots = [datetime.fromisoformat(t["slot"]) for t in taken]
    # One post per slot: three different minutes, one after another.
    assert slots[1] - slots[0] == timedelta(minutes=1) == slots[2] - slots[1]
    # Queue order: oldest first (the order they were planned in).
    planned = sorted(p["post_id"] for p in plans)
    assert [t["post_id"] for t in taken] == planned
    assert [ok["post_id"] for ok in oks] == planned
    # None went before its slot.
    for ok, slot in zip(oks, slots, strict=True):
        assert datetime.fromisoformat(ok["timestamp"].replace("Z", "+00:00")) >= slot
