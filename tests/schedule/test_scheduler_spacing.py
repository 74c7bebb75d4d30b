"""Spacing without drift (ADR 0015): ``min_spacing_minutes`` is measured between slots (the time
each post was due), not from a post's actual start, so a late timer or a late catch-up post
never pushes the lane's later slots, and ``schedule --json`` (the forecast) lists the very
times the scheduler fires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from atroposd.domain import PostState
from atroposd.pipeline.timer import ClockTimer
from atroposd.schedule.forecast import upcoming
from atroposd.schedule.model import ScheduleConfig
from tests.schedule.scheduler_support import config, jump_to, run_until, scheduler, started
from tests.unit.pipeline_support import ACCOUNT, Rig, Run, real_clip, runner

S = PostState
EVERY_2 = {"cron": "*/2 * * * *", "min_spacing_minutes": 2, "catch_up_grace_minutes": 5}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return runner(tmp_path, real_clip(tmp_path / "media", seed=83))


def plan(r: Rig, count: int) -> list[int]:
    ids = []
    for i in range(count):
        ids += [p.id for p in r.plan(f"s{i}", ("youtube",))]
        r.clock.advance(1)  # distinct ages: oldest first is a real order
    return ids


@dataclass(frozen=True)
class Waiting:
    """A waiting post as the forecast reads it (``store.queue.QueuedPost``)."""

    id: int
    account: str
    platform: str
    clip: str
    created_at: datetime
    pinned_at: datetime | None = None
    sidecar_json: str | None = None


def listing(r: Rig, schedule: dict[str, object], now: datetime) -> list[datetime]:
    """The times the forecast lists for the rig's ready posts of youtube (UTC)."""
    posts = [
        Waiting(p.id, p.account, p.platform, str(p.id), p.created_at.replace(tzinfo=UTC))
        for p in r.ledger.list_posts([S.READY], ACCOUNT, "youtube")
        if r.ledger.entered_at(p.id, S.UPLOADING) is None
    ]
    lanes = {(ACCOUNT, "youtube"): ScheduleConfig.model_validate(schedule)}
    rows = upcoming(lanes, posts, now, now + timedelta(days=1))
    return [u.at.astimezone(UTC) for u in rows]


def test_slots_exactly_the_spacing_apart_never_drift_when_each_wake_up_is_late(run: Run) -> None:
    hourly = {"cron": "0 * * * *", "min_spacing_minutes": 60, "catch_up_grace_minutes": 0}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 8, 30))
        plan(r, 5)
        sched = scheduler(r, config(hourly, youtube=None))
        sched.start()
        timer = sched.timer
        assert isinstance(timer, ClockTimer)
        end, lags = utc(2026, 12, 1, 14), iter([3, 1, 4, 1, 5, 2, 6, 2, 5, 3, 5, 8, 9])
        while (due := timer.next_due()) is not None and due <= end:
            lag = timedelta(seconds=next(lags))  # a loaded machine: each wake-up a bit late
            jump_to(r, max(due + lag, r.clock.now()))
            await timer.run_due()
            await r.publisher.drain()
        assert [at for at, _ in started(r)] == [
            utc(2026, 12, 1, 9, 0, 3),
            utc(2026, 12, 1, 10, 0, 1),
            utc(2026, 12, 1, 11, 0, 4),
            utc(2026, 12, 1, 12, 0, 1),
            utc(2026, 12, 1, 13, 0, 5),
        ]  # each post its own wake-up's lag after its slot: the lags do not add up
        sched.stop()

    run(scenario)


def test_a_late_catch_up_post_does_not_push_the_following_slots(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 9, 59, 30))
        plan(r, 4)
        jump_to(r, utc(2026, 12, 1, 10, 1, 39))  # started 99 s after the 10:00 slot
        sched = scheduler(r, config(EVERY_2, youtube=None))
        sched.start()
        await r.publisher.drain()
        listed = listing(r, EVERY_2, r.clock.now())
        await run_until(r, sched, utc(2026, 12, 1, 10, 10))
        times = [at for at, _ in started(r)]
        assert times == [
            utc(2026, 12, 1, 10, 1, 39),  # the catch-up post, late (one per lane)
            utc(2026, 12, 1, 10, 2),
            utc(2026, 12, 1, 10, 4),
            utc(2026, 12, 1, 10, 6),
        ]
        assert listed == times[1:]  # schedule --json listed what the daemon then did
        sched.stop()

    run(scenario)


def test_a_long_sleep_still_gives_one_late_post_and_then_the_slots(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 9, 0, 30))
        sched = scheduler(r, config(EVERY_2, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 9, 1))  # the 09:00 slot found nothing
        for post in plan(r, 3):
            r.publisher.kick(post)  # as admit does: held until a slot
        await r.publisher.drain()
        jump_to(r, utc(2026, 12, 1, 19, 3, 10))  # asleep ten hours: a burst would be wrong
        timer = sched.timer
        assert isinstance(timer, ClockTimer)
        await timer.run_due()
        await r.publisher.drain()
        await run_until(r, sched, utc(2026, 12, 1, 19, 7))
        assert [at for at, _ in started(r)] == [
            utc(2026, 12, 1, 19, 3, 10),  # the 19:02 slot, late: one post
            utc(2026, 12, 1, 19, 4),
            utc(2026, 12, 1, 19, 6),
        ]
        sched.stop()

    run(scenario)


def test_after_a_restart_the_last_post_counts_at_the_slot_it_served(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 9, 59, 30))
        plan(r, 3)
        jump_to(r, utc(2026, 12, 1, 10, 1, 39))  # the 10:00 slot's post goes 99 s late
        sched = scheduler(r, config(EVERY_2, youtube=None))
        sched.start()
        await r.publisher.drain()
        sched.stop()  # and the daemon restarts at once: the ledger says when it started
        r.new_publisher()
        again = scheduler(r, config(EVERY_2, youtube=None))
        again.start()
        await run_until(r, again, utc(2026, 12, 1, 10, 5))
        assert [at for at, _ in started(r)] == [
            utc(2026, 12, 1, 10, 1, 39),
            utc(2026, 12, 1, 10, 2),  # not 10:03:39
            utc(2026, 12, 1, 10, 4),
        ]
        again.stop()

    run(scenario)


def test_a_post_that_went_out_immediately_still_spaces_the_next_slot(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 10, 11))
        cfg = config({"mode": "immediate"}, youtube=None)
        sched = scheduler(r, cfg)
        sched.start()
        (first,) = [p.id for p in r.plan("now", ("youtube",))]
        r.publisher.kick(first)
        await r.publisher.drain()  # the immediate lane: it went at once, 10:11
        sched.stop()
        plan(r, 1)  # then the lane moves to slots (a restart with the new config)
        r.new_publisher()
        spaced = {"cron": "*/10 * * * *", "min_spacing_minutes": 15, "catch_up_grace_minutes": 0}
        again = scheduler(r, config(spaced, youtube=None))
        again.start()
        await run_until(r, again, utc(2026, 12, 1, 10, 40))
        assert [at for at, _ in started(r)] == [
            utc(2026, 12, 1, 10, 11),
            utc(2026, 12, 1, 10, 40),  # 10:20 is 9 min after it; 10:30 was thinned by spacing
        ]
        again.stop()

    run(scenario)
