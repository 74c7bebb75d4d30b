"""The scheduler on the real pipeline (ledger, publisher, providers, loopback emulator) with the
fake clock: slots across DST, restart, sleep, pinned times, native scheduling, spacing, order."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

import atroposd
from atroposd.domain import PostState
from atroposd.pipeline.reconcile import Reconciler
from atroposd.pipeline.scheduler import PostScheduler
from atroposd.pipeline.timer import ClockTimer
from tests.schedule.scheduler_support import (
    config,
    entered,
    jump_to,
    run_until,
    scheduler,
    started,
)
from tests.unit.pipeline_support import Rig, Run, real_clip, runner

S = PostState


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return runner(tmp_path, real_clip(tmp_path / "media", seed=81))


def plan(r: Rig, count: int, platforms: tuple[str, ...] = ("youtube",), tag: str = "c") -> list:
    ids = []
    for i in range(count):
        ids += [p.id for p in r.plan(f"{tag}{i}", platforms)]
        r.clock.advance(1)  # distinct ages: oldest first is a real order
    return ids


def test_new_york_slots_across_spring_forward_and_fall_back(run: Run) -> None:
    ny = {"timezone": "America/New_York", "slots": {"daily": ["02:30", "09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 3, 7, 4))  # Fri 6 March 23:00 EST
        ids = plan(r, 7)
        sched = scheduler(r, config(ny, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 3, 9, 16))
        assert [at for at, _ in started(r)] == [
            utc(2026, 3, 7, 7, 30),  # 02:30 EST
            utc(2026, 3, 7, 14),  # 09:00 EST
            utc(2026, 3, 8, 7),  # 02:30 does not exist on 8 March: 03:00 EDT
            utc(2026, 3, 8, 13),  # 09:00 EDT
            utc(2026, 3, 9, 6, 30),  # 02:30 EDT
            utc(2026, 3, 9, 13),  # 09:00 EDT
        ]
        assert [pid for _, pid in started(r)] == ids[:6]  # one per slot, oldest first
        assert len(await r.posts("youtube")) == 6
        sched.stop()

    run(scenario)


def test_new_york_fall_back_fires_the_repeated_time_once(run: Run) -> None:
    ny = {"timezone": "America/New_York", "slots": {"daily": ["01:30"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 10, 31, 3))
        plan(r, 4)
        sched = scheduler(r, config(ny, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 11, 2, 12))
        assert [at for at, _ in started(r)] == [
            utc(2026, 10, 31, 5, 30),  # 01:30 EDT
            utc(2026, 11, 1, 5, 30),  # the first 01:30 (EDT) only, not 01:30 EST too
            utc(2026, 11, 2, 6, 30),  # 01:30 EST
        ]
        sched.stop()

    run(scenario)


def test_london_cron_across_both_changes(run: Run) -> None:
    london = {"timezone": "Europe/London", "cron": "30 1 * * *"}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 3, 28))
        plan(r, 3, ("twostep",))
        sched = scheduler(r, config(london, twostep=None))
        sched.start()
        await run_until(r, sched, utc(2026, 3, 30, 12))
        assert [at for at, _ in started(r)] == [
            utc(2026, 3, 28, 1, 30),  # 01:30 GMT
            utc(2026, 3, 29, 1),  # 01:30 skipped on 29 March: 02:00 BST
            utc(2026, 3, 30, 0, 30),  # 01:30 BST
        ]
        assert len(await r.posts("twostep")) == 3
        sched.stop()
        jump_to(r, utc(2026, 10, 24, 12))
        plan(r, 2, ("twostep",), tag="autumn")
        sched = scheduler(r, config(london, twostep=None))
        sched.start()
        await run_until(r, sched, utc(2026, 10, 26, 12))
        assert [at for at, _ in started(r)][3:] == [
            utc(2026, 10, 25, 0, 30),  # the first 01:30 (BST) of 25 October, once
            utc(2026, 10, 26, 1, 30),  # 01:30 GMT
        ]

    run(scenario)


def test_restart_mid_day_re_arms_exactly_the_remaining_slots(run: Run) -> None:
    day = {"timezone": "UTC", "slots": {"daily": ["09:00", "12:00", "15:00", "18:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        ids = plan(r, 8)
        sched = scheduler(r, config(day, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 13))
        sched.stop()  # the daemon stops at 13:00 and starts again at once
        assert [at for at, _ in started(r)] == [utc(2026, 12, 1, 9), utc(2026, 12, 1, 12)]
        r.new_publisher()
        again = scheduler(r, config(day, youtube=None))
        again.start()
        assert again.timer.pending() == {"slot:alice:youtube": utc(2026, 12, 1, 15)}
        await run_until(r, again, utc(2026, 12, 1, 23, 59))
        assert [at for at, _ in started(r)] == [utc(2026, 12, 1, h) for h in (9, 12, 15, 18)]
        assert [pid for _, pid in started(r)] == ids[:4]
        again.stop()

    run(scenario)


def test_ten_hour_sleep_gives_at_most_one_late_post_per_lane(run: Run) -> None:
    hourly = {"slots": {"daily": [f"{h:02d}:00" for h in range(8, 19)]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 7))
        plan(r, 6, ("youtube", "twostep"))
        sched = scheduler(r, config(hourly, youtube=None, twostep=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 8, 30))
        assert len(started(r)) == 2  # 08:00 on each lane
        r.clock.advance(10 * 3600)  # asleep 08:30 -> 18:30: eleven slots passed on each lane
        await run_until(r, sched, utc(2026, 12, 1, 18, 45))
        for platform in ("youtube", "twostep"):
            times = [at for at, _ in started(r, platform)]
            assert times == [utc(2026, 12, 1, 8), utc(2026, 12, 1, 18, 30)]  # 18:00, 30 min late
        assert len(await r.posts()) == 4
        sched.stop()

    run(scenario)


def test_a_slot_older_than_the_grace_is_logged_and_the_post_waits_for_the_next(run: Run) -> None:
    two = {"slots": {"daily": ["08:00", "12:00"]}, "catch_up_grace_minutes": 120}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 7))
        ids = plan(r, 3)
        sched = scheduler(r, config(two, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 8, 30))
        r.clock.advance(10 * 3600)  # asleep until 18:30: 12:00 is 6.5 h ago
        with capture_logs() as logs:
            await run_until(r, sched, utc(2026, 12, 2, 9))
        missed = [e for e in logs if e["event"] == "slot_missed"]
        assert len(missed) == 1 and missed[0]["post_id"] == ids[1]
        assert missed[0]["slot"] == utc(2026, 12, 1, 12).isoformat()
        assert [at for at, _ in started(r)] == [utc(2026, 12, 1, 8), utc(2026, 12, 2, 8)]
        sched.stop()

    run(scenario)


def test_pinned_publish_at_goes_out_at_its_time_and_takes_no_slot(run: Run) -> None:
    daily = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        pin = utc(2026, 12, 1, 14, 15)
        (pinned,) = r.plan("pinned", ("twostep",), sidecar=json.dumps({"title": "p"}))
        r.ledger.set_fields(pinned.id, publish_at=pin)
        queued = plan(r, 2, ("twostep",))
        sched = scheduler(r, config(daily, twostep=None))
        sched.start()
        for post_id in (pinned.id, *queued):
            r.publisher.kick(post_id)  # as admit does: only the pinned one goes (uploads) now
        await run_until(r, sched, utc(2026, 12, 2, 10))
        uploaded = entered(r, pinned.id, S.UPLOADING)
        assert uploaded is not None and uploaded < utc(2026, 12, 1, 6, 1)  # early (ADR 0013)
        assert entered(r, pinned.id, S.PUBLISHING) == pin  # the publish call at its time
        assert r.get(pinned.id).state is S.PUBLISHED
        assert [pid for _, pid in started(r)][1:] == queued  # the slots took the queue
        assert [at for at, _ in started(r)][1:] == [utc(2026, 12, 1, 9), utc(2026, 12, 2, 9)]
        sched.stop()

    run(scenario)


def test_native_slots_upload_ahead_and_are_confirmed_after(run: Run) -> None:
    native = {"slots": {"daily": ["18:00"]}, "native": True, "lead_minutes": 720}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 5))
        first, second = plan(r, 2)
        sched = scheduler(r, config(native, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 7))
        post = r.get(first)
        assert post.state is S.SCHEDULED and post.publish_at == utc(2026, 12, 1, 18)
        assert entered(r, first, S.UPLOADING) == utc(2026, 12, 1, 6)  # 12 h ahead
        assert r.get(second).state is S.READY  # one per slot
        sched.stop()  # the machine is off at 18:00: the platform publishes on its own
        jump_to(r, utc(2026, 12, 1, 20))
        r.new_publisher()
        again = scheduler(r, config(native, youtube=None))
        again.start()
        await run_until(r, again, utc(2026, 12, 1, 20, 1))
        assert r.get(first).state is S.PUBLISHED  # confirmed after the time
        assert entered(r, first, S.PUBLISHED) == utc(2026, 12, 1, 20)
        assert len(await r.posts("youtube")) == 1
        await run_until(r, again, utc(2026, 12, 2, 19))
        assert r.get(second).publish_at == utc(2026, 12, 2, 18)
        assert entered(r, second, S.UPLOADING) == utc(2026, 12, 2, 6)
        assert entered(r, second, S.PUBLISHED) == utc(2026, 12, 2, 18, 1)
        again.stop()

    run(scenario)


def test_min_spacing_and_sidecar_order(run: Run) -> None:
    busy = {"cron": "*/10 9 * * *", "min_spacing_minutes": 25}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 8))
        old = plan(r, 2)
        (first,) = r.plan("first", ("youtube",), sidecar=json.dumps({"order": 1}))
        sched = scheduler(r, config(busy, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 2, 10))
        assert [pid for _, pid in started(r)] == [first.id, *old]  # explicit order first
        assert [at for at, _ in started(r)] == [utc(2026, 12, 1, 9, m) for m in (0, 30)] + [
            utc(2026, 12, 2, 9)
        ]
        sched.stop()

    run(scenario)


def test_immediate_lanes_are_not_held_and_every_runs_on_the_clock(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        (post,) = r.plan("now", ("youtube",))
        sched = scheduler(r, config({"timezone": "UTC"}, youtube=None))
        ticks: list[datetime] = []
        sched.every("probe", 60, lambda: ticks.append(r.clock.now()))
        sched.start()
        assert not sched.holds(post) and sched.lanes() == {}
        start = r.clock.now()
        await run_until(r, sched, start + timedelta(minutes=3))
        assert ticks == [start + timedelta(minutes=m) for m in (1, 2, 3)]
        sched.stop()

    run(scenario)


def test_a_stopped_scheduler_holds_nothing(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        (post,) = r.plan("once", ("youtube",))
        sched = PostScheduler(
            r.ledger, r.publisher, config({"slots": {"daily": ["09:00"]}}, youtube=None), r.clock
        )
        sched.timer = ClockTimer(r.clock)
        r.publisher.hold = sched.holds
        assert not sched.holds(post)  # never started (upload --once): posts go now
        assert (await r.settle(post.id)).state is S.PUBLISHED

    run(scenario)


def test_the_sweep_leaves_posts_waiting_for_a_slot_alone(run: Run) -> None:
    daily = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        waiting = plan(r, 2)
        (free,) = r.plan("free", ("twostep",))  # twostep posts immediately (no schedule)
        sched = scheduler(r, config(daily, youtube=None, twostep={"mode": "immediate"}))
        sched.start()
        reconciler = Reconciler(r.ledger, r.publisher, r.archiver, r.clock)
        assert reconciler.sweep() == 1  # only the immediate post is handed to the publisher
        await r.publisher.drain()
        assert r.get(free.id).state is S.PUBLISHED
        assert [r.get(i).state for i in waiting] == [S.READY, S.READY]
        await run_until(r, sched, utc(2026, 12, 1, 9, 1))
        assert [r.get(i).state for i in waiting] == [S.PUBLISHED, S.READY]
        sched.stop()

    run(scenario)


def test_reload_rebuilds_lanes_from_the_new_config(run: Run) -> None:
    slots = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        first, second = plan(r, 2)
        sched = scheduler(r, config(slots, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 9, 1))
        assert [r.get(i).state for i in (first, second)] == [S.PUBLISHED, S.READY]
        sched.reload(config({"timezone": "UTC"}, youtube=None))  # now immediate
        assert sched.lanes() == {} and "slot:alice:youtube" not in sched.timer.pending()
        await r.publisher.drain()
        assert r.get(second).state is S.PUBLISHED  # its queue went at once
        (third,) = r.plan("third", ("youtube",))
        sched.reload(config({"slots": {"daily": ["12:00"]}}, youtube=None))
        assert sched.timer.pending()["slot:alice:youtube"] == utc(2026, 12, 1, 12)
        assert sched.holds(r.get(third.id))
        sched.stop()

    run(scenario)


def test_a_native_slot_that_passes_before_the_upload_goes_late_as_a_plain_post(run: Run) -> None:
    native = {"slots": {"daily": ["18:00"]}, "native": True, "lead_minutes": 720}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 5))
        (post,) = plan(r, 1)
        sched = scheduler(r, config(native, youtube=None))
        r.disabled.add("youtube")  # its uploads cannot start (as if the platform were down)
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 17, 59))
        assert r.get(post).state is S.READY and r.get(post).publish_at == utc(2026, 12, 1, 18)
        with capture_logs() as logs:
            await run_until(r, sched, utc(2026, 12, 1, 18, 30))
        passed = [e for e in logs if e["event"] == "native_slot_passed"]
        assert len(passed) == 1 and passed[0]["slot"] == utc(2026, 12, 1, 18).isoformat()
        assert r.get(post).publish_at is None
        r.disabled.clear()  # the platform is back: the next sweep hands it over, not held
        assert Reconciler(r.ledger, r.publisher, r.archiver, r.clock).sweep() == 1
        await r.publisher.drain()
        done = r.get(post)
        assert done.state is S.PUBLISHED and done.publish_at is None  # not a past publishAt
        (sent,) = await r.posts("youtube")
        assert not sent.get("publish_at")
        sched.stop()

    run(scenario)


def test_started_twice_runs_once_and_a_stopping_daemon_keeps_holding(run: Run) -> None:
    daily = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        (post,) = plan(r, 1)
        # The daemon's own timer (APScheduler): start() at start-up and again in its task.
        sched = PostScheduler(r.ledger, r.publisher, config(daily, youtube=None), r.clock)
        sched.start()
        sched.start()
        assert "slot:alice:youtube" in sched.timer.pending()
        sched.stop()
        assert sched.holds(r.get(post))  # a stopping daemon starts no slot post

    run(scenario)


def test_a_pinned_post_started_after_a_slot_does_not_count_as_the_slots_post(run: Run) -> None:
    daily = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 8))
        (waiting,) = plan(r, 1)
        (pinned,) = r.plan("pinned", ("youtube",))
        r.ledger.set_fields(pinned.id, publish_at=utc(2026, 12, 1, 20))
        jump_to(r, utc(2026, 12, 1, 9, 30))  # the daemon was off at 09:00; a pinned upload ran
        r.put(pinned.id, S.UPLOADING, S.READY)
        jump_to(r, utc(2026, 12, 1, 9, 31))
        sched = scheduler(r, config(daily, youtube=None))
        sched.start()
        await r.publisher.drain()
        assert entered(r, waiting, S.UPLOADING) == utc(2026, 12, 1, 9, 31)  # 09:00, late
        sched.stop()

    run(scenario)


def test_no_grace_still_posts_a_slot_whose_timer_fired_a_few_seconds_late(run: Run) -> None:
    strict = {"slots": {"daily": ["09:00"]}, "catch_up_grace_minutes": 0}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 8))
        (post,) = plan(r, 1)
        sched = scheduler(r, config(strict, youtube=None))
        sched.start()
        jump_to(r, utc(2026, 12, 1, 9, 0, 3))  # a loaded machine: the wake-up came 3 s late
        timer = sched.timer
        assert isinstance(timer, ClockTimer)
        await timer.run_due()
        await r.publisher.drain()
        assert entered(r, post, S.UPLOADING) == utc(2026, 12, 1, 9, 0, 3)
        sched.stop()

    run(scenario)


def test_a_clip_dropped_after_an_empty_slot_waits_for_the_next_slot(run: Run) -> None:
    daily = {"slots": {"daily": ["09:00", "18:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 8))
        sched = scheduler(r, config(daily, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 10))  # 09:00 came with nothing to post
        (post,) = plan(r, 1)
        r.publisher.kick(post)  # as admit does: held, and the scheduler looks at once
        await run_until(r, sched, utc(2026, 12, 1, 18, 30))
        assert entered(r, post, S.UPLOADING) == utc(2026, 12, 1, 18)  # the rhythm is kept
        sched.stop()

    run(scenario)


def test_a_failing_confirmation_is_asked_again_later(run: Run) -> None:
    native = {"slots": {"daily": ["18:00"]}, "native": True, "lead_minutes": 720}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 5))
        (post,) = plan(r, 1)
        sched = scheduler(r, config(native, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 7))
        assert r.get(post).state is S.SCHEDULED
        await r.fault("youtube", "list", code=503)  # the confirmation's status call fails once
        await run_until(r, sched, utc(2026, 12, 1, 18, 1))
        waiting = r.get(post)
        assert waiting.state is S.SCHEDULED and waiting.retry_at is not None
        assert waiting.retry_at > utc(2026, 12, 1, 18, 1)  # asked again later, not a crash
        await run_until(r, sched, waiting.retry_at)
        assert Reconciler(r.ledger, r.publisher, r.archiver, r.clock).sweep() == 1  # the sweep
        await r.publisher.drain()
        assert r.get(post).state is S.PUBLISHED
        sched.stop()

    run(scenario)


def test_cancel_of_a_scheduled_post_says_to_delete_it_on_the_platform(run: Run) -> None:
    native = {"slots": {"daily": ["18:00"]}, "native": True, "lead_minutes": 720}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 5))
        (post,) = plan(r, 1)
        sched = scheduler(r, config(native, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 7))
        sched.stop()
        assert r.get(post).state is S.SCHEDULED
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
        config_file = Path(atroposd.__file__).parent / "data" / "upload_config.example.json"
        env.update(
            ENVIRONMENT="sandbox", STATE_DIR=str(r.home / "state"), UPLOAD_CONFIG=str(config_file)
        )
        cli = [sys.executable, "-m", "atroposd", "--env-file", os.devnull, "cancel", str(post)]
        done = await asyncio.to_thread(
            subprocess.run, cli, env=env, cwd=r.home, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1, done.stderr
        assert "scheduled" in done.stderr and "delete it on the platform" in done.stderr
        assert r.get(post).state is S.SCHEDULED

    run(scenario)


def test_a_reload_keeps_a_slot_taken_by_a_post_not_yet_uploading(run: Run) -> None:
    slots = {"slots": {"daily": ["09:00", "18:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        old, second = plan(r, 2)
        sched = scheduler(r, config(slots, youtube=None))
        r.disabled.add("youtube")  # the granted post cannot start yet (its upload waits)
        sched.start()
        with capture_logs() as logs:
            await run_until(r, sched, utc(2026, 12, 1, 9, 1))
            sched.reload(config(slots, youtube=None))  # e.g. another account's edit
            r.disabled.clear()
            r.publisher.kick(old)
            r.publisher.kick(second)
            await r.publisher.drain()
        taken = [(e["slot"], e["post_id"]) for e in logs if e["event"] == "slot_taken"]
        assert taken == [(utc(2026, 12, 1, 9).isoformat(), old)]  # taken once, not again
        assert r.get(old).state is S.PUBLISHED
        assert r.get(second).state is S.READY  # the 09:00 slot was taken: it waits for 18:00
        await run_until(r, sched, utc(2026, 12, 1, 18, 1))
        assert entered(r, second, S.UPLOADING) == utc(2026, 12, 1, 18)
        assert len(await r.posts("youtube")) == 2
        sched.stop()

    run(scenario)


def test_a_clip_deleted_while_it_waits_does_not_take_a_slot(run: Run) -> None:
    slots = {"slots": {"daily": ["09:00"]}}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 6))
        gone, kept = plan(r, 2)
        sched = scheduler(r, config(slots, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 7))
        r.ledger.drop_of(gone).video_path.unlink()  # the user took it back out of the queue
        await run_until(r, sched, utc(2026, 12, 1, 9, 1))
        assert entered(r, kept, S.UPLOADING) == utc(2026, 12, 1, 9)  # the slot went on
        assert r.get(gone).state is S.NEEDS_ATTENTION  # said then, as without slots
        assert len(await r.posts("youtube")) == 1
        sched.stop()

    run(scenario)


def test_a_native_lane_serves_its_late_slot_before_the_slots_ahead_in_queue_order(
    run: Run,
) -> None:
    native = {"slots": {"daily": ["17:00", "18:00"]}, "native": True, "lead_minutes": 720}

    async def scenario(r: Rig) -> None:
        jump_to(r, utc(2026, 12, 1, 12))
        oldest, younger = plan(r, 2)
        jump_to(r, utc(2026, 12, 1, 17, 30))  # started half an hour after the 17:00 slot
        sched = scheduler(r, config(native, youtube=None))
        sched.start()
        await run_until(r, sched, utc(2026, 12, 1, 17, 31))
        assert entered(r, oldest, S.UPLOADING) == utc(2026, 12, 1, 17, 30)  # 17:00, late
        assert r.get(oldest).publish_at is None
        assert r.get(younger).publish_at == utc(2026, 12, 1, 18)  # then 18:00, natively
        assert r.get(younger).state is S.SCHEDULED
        sched.stop()

    run(scenario)
