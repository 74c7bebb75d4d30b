"""The bus: bounded subscriptions with a declared overflow rule, and unsubscribe."""

from __future__ import annotations

import asyncio

import pytest

import atroposd.bus as bus_module
from atroposd.bus import Bus, Overflow, PostChanged, PostDue, UploadProgressed
from atroposd.domain import PostState


def test_progress_events_keep_the_newest_when_the_subscriber_is_behind() -> None:
    bus = Bus()
    sub = bus.subscribe(UploadProgressed, maxsize=3)
    for done in range(10):
        bus.publish(UploadProgressed(1, done, 9))
    assert sub.qsize() == 3
    assert [sub.get_nowait().done for _ in range(3)] == [7, 8, 9]
    assert sub.dropped == 7


def test_default_subscription_is_bounded() -> None:
    bus = Bus()
    sub = bus.subscribe(UploadProgressed)
    for done in range(100_000):
        bus.publish(UploadProgressed(1, done, 100_000))
    assert sub.qsize() == bus_module.DEFAULT_MAXSIZE
    assert sub.dropped == 100_000 - bus_module.DEFAULT_MAXSIZE


def test_doorbells_coalesce_while_queued() -> None:
    bus = Bus()
    sub = bus.subscribe(PostDue)
    assert sub.overflow is Overflow.COALESCE
    for _ in range(5):
        for post_id in (1, 2, 1, 3, 2):
            bus.publish(PostDue(post_id))
    assert [sub.get_nowait().post_id for _ in range(sub.qsize())] == [1, 2, 3]
    bus.publish(PostDue(1))  # rung again once taken: queued again
    assert sub.get_nowait() == PostDue(1)
    assert sub.dropped == 0


def test_full_doorbell_queue_drops_the_oldest() -> None:
    bus = Bus()
    sub = bus.subscribe(PostDue, maxsize=2)
    for post_id in (1, 2, 3):
        bus.publish(PostDue(post_id))
    assert [sub.get_nowait().post_id for _ in range(2)] == [2, 3]
    bus.publish(PostDue(1))  # 1 was dropped, so it is not "already queued"
    assert sub.get_nowait() == PostDue(1)


def test_leaving_the_with_block_unsubscribes() -> None:
    bus = Bus()
    with bus.subscribe(PostChanged) as sub:
        assert bus.subscribers(PostChanged) == 1
        bus.publish(PostChanged(1, PostState.READY))
        assert sub.qsize() == 1
    assert bus.subscribers(PostChanged) == 0
    bus.publish(PostChanged(2, PostState.PUBLISHED))
    assert sub.qsize() == 0
    sub.close()  # closing twice is harmless


def test_many_short_subscriptions_leave_nothing_behind() -> None:
    bus = Bus()
    keep = bus.subscribe(UploadProgressed)
    for _ in range(10_000):  # e.g. websockets that come and go
        with bus.subscribe(UploadProgressed):
            pass
    assert bus.subscribers(UploadProgressed) == 1
    bus.publish(UploadProgressed(1, 1, 1))
    assert keep.get_nowait() == UploadProgressed(1, 1, 1)


def test_events_go_only_to_subscribers_of_their_type() -> None:
    bus = Bus()
    due, progress = bus.subscribe(PostDue), bus.subscribe(UploadProgressed)
    bus.publish(PostDue(7))
    assert (due.qsize(), progress.qsize()) == (1, 0)
    bus.publish(object())  # nobody listens: nothing happens


def test_get_waits_for_the_next_event_and_async_for_reads_in_order() -> None:
    async def main() -> list[int]:
        bus = Bus()
        sub = bus.subscribe(UploadProgressed)
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert not waiter.done()
        bus.publish(UploadProgressed(1, 5, 10))
        assert await asyncio.wait_for(waiter, 5) == UploadProgressed(1, 5, 10)
        for done in (6, 7):
            bus.publish(UploadProgressed(1, done, 10))
        got = []
        async for event in sub:
            got.append(event.done)
            if sub.empty():
                break
        return got

    assert asyncio.run(main()) == [6, 7]


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Bus().subscribe(PostDue, maxsize=0)
    with pytest.raises(asyncio.QueueEmpty):
        Bus().subscribe(PostDue).get_nowait()


def test_clip_ready_is_gone() -> None:
    assert not hasattr(bus_module, "ClipReady")
