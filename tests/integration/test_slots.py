"""The daemon in sandbox with a slot every minute: posts reach the emulator one per slot, in
queue order, across a ``kill -9`` in the middle of the first slot's upload (real time, real
HTTP; two slots: at most about a minute, mostly idle)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tests.support import Daemon, Emulator, Workspace, wait_for


@pytest.mark.timeout(180)  # real minutes: the slot at start, then the next minute mark
def test_one_post_per_minute_slot_in_queue_order(ws: Workspace, emulator: Emulator) -> None:
    config = json.loads(ws.config_path.read_text())
    config["accounts"]["default"]["schedule"] = {"timezone": "Europe/London", "cron": "* * * * *"}
    ws.config_path.write_text(json.dumps(config))
    for i in range(2):
        ws.drop(f"clip{i}", seed=90 + i)
    # The first slot's upload hangs on its bytes: the daemon is killed while it holds the slot.
    emulator.fault("chunk", nth=1, action="delay", seconds=120)
    first = Daemon(ws)
    first.wait_event("slot_taken", platform="youtube", timeout=60)
    wait_for(emulator.fired, 60, "the first slot's upload under way")
    first.kill9()
    emulator.http.delete("/_emulator/faults").raise_for_status()
    second = Daemon(ws)
    try:
        oks = second.wait_event("OK", count=2, timeout=150, platform="youtube")
        failed = first.events("task_failed") + second.events("task_failed")
    finally:
        assert second.stop() == 0
    assert not failed
    # Each slot took one clip; a slot taken again after the restart took the same clip.
    taken = first.events("slot_taken", platform="youtube")
    taken += second.events("slot_taken", platform="youtube")
    by_slot: dict[str, set[int]] = {}
    for t in taken:
        by_slot.setdefault(t["slot"], set()).add(t["post_id"])
    assert all(len(ids) == 1 for ids in by_slot.values()), by_slot
    planned = first.events("PLAN", platform="youtube") + second.events("PLAN", platform="youtube")
    plans = sorted(p["post_id"] for p in planned)  # each clip planned once, oldest first
    assert len(plans) == 2
    slot_of = {next(iter(ids)): datetime.fromisoformat(s) for s, ids in by_slot.items()}
    assert sorted(slot_of) == plans
    # The killed upload went on once, from its saved session; two posts, in queue order.
    assert len(emulator.posts()) == 2
    assert second.events("upload_resumed", post_id=plans[0])
    assert [ok["post_id"] for ok in oks] == plans
    # One post per slot: two consecutive minutes (the first clip's own, the next).
    assert slot_of[plans[1]] - slot_of[plans[0]] == timedelta(minutes=1)
    # None went before its slot.
    for ok in oks:
        at = datetime.fromisoformat(ok["timestamp"].replace("Z", "+00:00"))
        assert at >= slot_of[ok["post_id"]]
