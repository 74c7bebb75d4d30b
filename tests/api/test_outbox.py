"""A websocket's outbox: bounded, the oldest progress message dropped first, never a state
change; the bus never waits for a socket."""

from __future__ import annotations

import asyncio

from atroposd.api.progress import Outbox
from atroposd.bus import Bus, UploadProgressed


def test_a_full_outbox_drops_the_oldest_progress_and_keeps_every_state_change() -> None:
    box = Outbox(progress_limit=8)
    for i in range(200):
        box.put({"type": "step_progress", "i": i}, progress=True)
        if i % 20 == 0:
            box.put({"type": "state_changed", "i": i})
    assert len(box) == 8 + 10 and box.dropped == 192

    async def drain() -> list[dict[str, object]]:
        return [await box.get() for _ in range(len(box))]

    got = asyncio.run(drain())
    states = [m["i"] for m in got if m["type"] == "state_changed"]
    progress = [m["i"] for m in got if m["type"] == "step_progress"]
    assert states == list(range(0, 200, 20))
    assert progress == list(range(192, 200))
    assert [m["i"] for m in got][-9:] == [180, *range(192, 200)]  # order kept


def test_the_bus_never_waits_for_a_subscriber_that_stopped_reading() -> None:
    async def flood() -> tuple[int, int]:
        bus = Bus()
        with bus.subscribe(UploadProgressed, maxsize=256) as stalled:
            for done in range(20_000):
                bus.publish(UploadProgressed(1, done, 20_000))
            return stalled.qsize(), stalled.dropped

    held, dropped = asyncio.run(flood())
    assert held == 256 and dropped == 20_000 - 256
