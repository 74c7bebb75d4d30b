"""Posting slots: which waiting post goes out when, per (account, platform) lane (ADR 0015).

The ledger stays the truth. A post of a lane in ``slots`` mode waits in ``ready`` until a slot
takes it (``holds``); a post has taken its slot once it entered ``uploading``. Everything
else is derived from the ledger and the config at each start and ``reload``: the last post
of a lane, the queue (``schedule.slots.queue_order``), which native slots already hold a post
(its ``publish_at``). The timer (``pipeline/timer.py``) only says when to look again.

At each look (``tick``), per lane, with S the latest slot at or before now:
- S not taken yet, now within ``catch_up_grace_minutes`` of it and ``min_spacing_minutes``
  after the time the lane's last post was due (its slot, not its actual start: a late timer
  or a late catch-up post never pushes the later slots; ``slot_instants`` already keeps the
  slots that far apart, so the listing of ``schedule`` is when they go): the head of the
  queue goes (``slot_taken``; ``late_seconds`` when the machine was off or asleep at S).
  Only the latest slot counts, so a long sleep gives at most one late post per lane, never a
  burst.
- S older than the grace with a post that was waiting: ``slot_missed`` is logged once; the
  post keeps its place for the next slot.
- Native lanes (``"native": true`` on a platform that schedules natively) give each slot
  within ``lead_minutes`` its post early, with ``publish_at`` = the slot: the platform
  publishes it then, even if this machine is off (``scheduled`` until confirmed).
Pinned posts (a sidecar ``publish_at``) never wait for a slot; they and scheduled posts are
rung at their time by one-shot jobs. ``every(name, seconds, fn)`` runs periodic work on the
same timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from atroposd.clock import Clock
from atroposd.domain import Post, PostState
from atroposd.pipeline.timer import ApsTimer, Fn, Timer
from atroposd.schedule.model import ScheduleConfig
from atroposd.schedule.slots import (
    LOOKBACK,
    Queued,
    effective_schedule,
    last_slot,
    next_slot,
    queue_order,
    sidecar_order,
    slot_instants,
)
from atroposd.store.ledger import Ledger

log = structlog.get_logger("atroposd")
S = PostState
WAITING = (S.READY, S.PROCESSING, S.SCHEDULED)  # states a pinned or scheduled post waits in
ON_TIME = timedelta(seconds=60)  # a wake-up this late is still the slot's own (not catch-up)


class ConfigLike(Protocol):
    """What the scheduler reads of ``upload_config.json`` (``config.UploadConfig``)."""

    @property
    def accounts(self) -> Mapping[str, Any]: ...


class Kicker(Protocol):
    """The publisher, as the scheduler uses it."""

    def kick(self, post_id: int) -> None: ...


@dataclass
class Lane:
    """One (account, platform) in slots mode."""

    account: str
    platform: str
    schedule: ScheduleConfig
    native: bool
    last_due: datetime | None = None  # when the lane's latest post was due (its slot)
    taken: set[datetime] = field(default_factory=set)  # native slots that hold a post
    missed_logged: datetime | None = None

    @property
    def job_id(self) -> str:
        return f"slot:{self.account}:{self.platform}"

    def about(self) -> dict[str, object]:
        return {"account": self.account, "platform": self.platform}


def _due_of(schedule: ScheduleConfig, started: datetime) -> datetime:
    """When a post that started at ``started`` (the ledger) was due: the slot it served when
    it started within that slot's grace, else its start (an immediate post)."""
    slot = last_slot(schedule, started)
    grace = max(timedelta(minutes=schedule.catch_up_grace_minutes), ON_TIME)
    return slot if slot is not None and started - slot <= grace else started


def _carry(lane: Lane, before: Lane | None) -> None:
    """What the lane's previous build knew beyond the ledger (a reload)."""
    if before is None:
        return
    if before.last_due is not None and (lane.last_due is None or before.last_due > lane.last_due):
        lane.last_due = before.last_due
    lane.taken |= before.taken
    lane.missed_logged = before.missed_logged


class PostScheduler:
    """Slot jobs per lane, one-shot jobs for pinned and scheduled posts, interval jobs."""

    def __init__(
        self,
        ledger: Ledger,
        publisher: Kicker,
        config: ConfigLike,
        clock: Clock,
        natively: Callable[[str], bool] = lambda platform: False,
        timer: Timer | None = None,
    ) -> None:
        self._ledger = ledger
        self._publisher = publisher
        self._config = config
        self._clock = clock
        self._natively = natively
        self.timer: Timer = timer or ApsTimer()
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._granted: set[int] = set()  # took a slot in this process, not yet claimed
        self._fresh: set[int] = set()  # known never to have started
        self._let_go: set[int] = set()  # waited for a slot, but their file is gone
        self._holding = False  # slot lanes hold their posts (from the first start on)
        self._active = False  # the timer runs
        self._poked = False
        self._since: datetime | None = None  # when this process's scheduler started

    # -- the public face ----------------------------------------------------------------

    def every(self, name: str, seconds: float, fn: Fn) -> None:
        """Run ``fn`` every ``seconds`` on the scheduler's timer (``every:<name>``)."""
        self.timer.every(f"every:{name}", seconds, fn)

    def start(self) -> None:
        """Build the lanes from config + ledger, arm every job, start the timer (once)."""
        if self._active:
            return
        self._build()
        self._since = self._clock.now()
        self._active = self._holding = True
        self.timer.start()
        self.tick()

    def stop(self) -> None:
        """Stop the timer. Slot posts stay held: a stopping daemon starts none of them."""
        self._active = False
        self.timer.stop()

    def reload(self, config: ConfigLike) -> None:
        """A new ``upload_config.json``: lanes and jobs are rebuilt from it and the ledger."""
        self._config = config
        for job_id in list(self.timer.pending()):
            if job_id.startswith(("slot:", "pinned:", "confirm:")):
                self.timer.cancel(job_id)
        self._build()
        if self._active:
            self.tick()
            for post in self._ledger.list_posts([S.READY]):
                if self._lane_of(post) is None:  # a lane back to immediate: its queue goes
                    self._publisher.kick(post.id)

    async def run(self) -> None:
        """The daemon's task: start, then keep the timer until cancelled."""
        self.start()
        try:
            await asyncio.Event().wait()
        finally:
            self.stop()

    def lanes(self) -> dict[tuple[str, str], ScheduleConfig]:
        """The lanes in slots mode and their schedules."""
        return {key: lane.schedule for key, lane in self._lanes.items()}

    def holds(self, post: Post) -> bool:
        """True while a ready post waits for a slot (the publisher asks before uploading).

        Nothing is held by a scheduler never started (``upload --once`` posts everything)."""
        if not self._holding or post.state is not S.READY:
            return False
        if post.publish_at is not None:  # pinned (or given its native slot): never waits
            if post.publish_at > self._clock.now():
                self._arm_post("pinned", post.id, post.publish_at)
            return False
        lane = self._lane_of(post)
        if lane is None or self._started(post) or post.id in self._let_go:
            return False
        self._poke()  # a slot within its grace may be free: look now
        return True

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        # A reload keeps what this process granted: a post that took its slot but has not
        # entered ``uploading`` yet (waiting for an upload slot) is not in the ledger's count.
        old, self._lanes, self._fresh = self._lanes, {}, set()
        now = self._clock.now()
        for account, acc in sorted(self._config.accounts.items()):
            for platform in acc.platforms.enabled():
                schedule = effective_schedule(acc, platform)
                if schedule is None:
                    continue
                native = schedule.native and self._natively(platform)
                lane = Lane(account, platform, schedule, native)
                self._recall(lane, now)
                _carry(lane, old.get((account, platform)))
                self._lanes[(account, platform)] = lane
        log.info(
            "schedule_built",
            lanes=[f"{a}/{p}" for a, p in sorted(self._lanes)],
            native=[f"{a}/{p}" for (a, p), lane in sorted(self._lanes.items()) if lane.native],
        )

    def _recall(self, lane: Lane, now: datetime) -> None:
        """What the ledger says about a lane: its last post to start, its taken native slots."""
        since, started_last = now - LOOKBACK, None
        for post in self._ledger.list_posts(None, lane.account, lane.platform):
            if post.publish_at is not None:  # pinned or native: its own time, not a slot start
                if post.publish_at >= since:
                    lane.taken.add(post.publish_at)
                continue
            if post.updated_at.replace(tzinfo=post.updated_at.tzinfo or now.tzinfo) < since:
                continue  # started (if ever) before the look-back: does not matter
            started = self._ledger.entered_at(post.id, S.UPLOADING, first=True)
            if started is not None and (started_last is None or started > started_last):
                started_last = started
        if started_last is not None:
            lane.last_due = _due_of(lane.schedule, started_last)

    def _gone(self, post: Post) -> bool:
        """True when the post's video is no longer where it was planned (one stat)."""
        return not self._ledger.drop_of(post.id).video_path.exists()

    def _lane_of(self, post: Post) -> Lane | None:
        return self._lanes.get((post.account, post.platform))

    def _started(self, post: Post) -> bool:
        """True once the post took a slot (entered ``uploading``, here or before a restart)."""
        if post.id in self._granted:
            return True
        if post.id in self._fresh:
            return False
        if post.attempts or post.remote_ref or post.bytes_sent:
            return True
        if self._ledger.entered_at(post.id, S.UPLOADING) is not None:
            return True
        self._fresh.add(post.id)
        return False

    # -- one look ------------------------------------------------------------------------

    def _poke(self) -> None:
        if self._poked or not self._active:
            return
        self._poked = True
        self.timer.at("poke", self._clock.now(), self._poked_tick)

    def _poked_tick(self) -> None:
        self._poked = False
        self.tick()

    def tick(self) -> None:
        """Look at every lane, ring due pinned and scheduled posts, arm the next jobs."""
        if not self._active:
            return
        now = self._clock.now()
        for lane in self._lanes.values():
            self._arm(lane, self._look(lane, now))
        self._ring_posts(now)

    def _queue(self, lane: Lane) -> list[Post]:
        """The lane's posts waiting for a slot, in queue order."""
        posts = {
            p.id: p
            for p in self._ledger.list_posts([S.READY], lane.account, lane.platform)
            if p.publish_at is None and not self._started(p)
        }
        items = [
            Queued(p.id, p.created_at, sidecar_order(self._ledger.drop_of(p.id).sidecar_json))
            for p in posts.values()
        ]
        return [posts[q.post_id] for q in queue_order(items)]

    def _look(self, lane: Lane, now: datetime) -> datetime | None:
        """Serve the lane's due slot, then (native) the slots within the lead time: the queue
        goes in slot order. Returns when to look at this lane again."""
        wake = self._serve_due(lane, now)
        if lane.native:
            self._give_native_slots(lane, now)
        return wake

    def _serve_due(self, lane: Lane, now: datetime) -> datetime | None:
        sched = lane.schedule
        wake = self._next_wake(lane, now)
        slot = last_slot(sched, now)
        if slot is None or self._served(lane, slot):
            return wake
        spacing = timedelta(minutes=sched.min_spacing_minutes)
        grace = max(timedelta(minutes=sched.catch_up_grace_minutes), ON_TIME)
        due = slot if lane.last_due is None else max(slot, lane.last_due + spacing)
        if now - slot > grace:
            self._missed(lane, slot, now)
            return wake
        if now < due:
            if due - slot > grace:
                return wake
            return due if wake is None else min(due, wake)
        for post in (p for p in self._queue(lane) if self._waited_for(p, slot)):
            if self._gone(post):  # its file left the queue: it fails now and takes no slot
                self._let_go.add(post.id)
                self._publisher.kick(post.id)
                continue
            self._grant(lane, post, slot, now, due=due)
            break
        return wake

    def _waited_for(self, post: Post, slot: datetime) -> bool:
        """A post planned after a slot this process was watching takes the next one (the
        rhythm is kept); one found after a restart may take the slot missed while off."""
        return post.created_at <= slot or self._since is None or self._since > slot

    def _next_wake(self, lane: Lane, now: datetime) -> datetime | None:
        after = now
        if lane.native:  # the next slot not yet within the lead: look at its lead time
            lead = timedelta(minutes=lane.schedule.lead_minutes)
            upcoming = next_slot(lane.schedule, now + lead)
            first = next_slot(lane.schedule, now)
            candidates = [first] if first is not None else []
            if upcoming is not None:
                candidates.append(upcoming - lead)
            return min(candidates, default=None)
        return next_slot(lane.schedule, after)

    def _served(self, lane: Lane, slot: datetime) -> bool:
        if slot in lane.taken:
            return True
        return lane.last_due is not None and lane.last_due >= slot

    def _missed(self, lane: Lane, slot: datetime, now: datetime) -> None:
        """Log once that a slot passed, beyond its grace, while a post waited for it."""
        if lane.missed_logged == slot:
            return
        lane.missed_logged = slot
        queue = self._queue(lane)
        if not queue or queue[0].created_at.astimezone(slot.tzinfo) > slot:
            return  # nothing was waiting then
        upcoming = next_slot(lane.schedule, now)
        log.warning(
            "slot_missed",
            **lane.about(),
            slot=slot.isoformat(),
            post_id=queue[0].id,
            late_minutes=round((now - slot).total_seconds() / 60),
            grace_minutes=lane.schedule.catch_up_grace_minutes,
            next_slot=upcoming.isoformat() if upcoming else None,
            action="moved to the next free slot",
        )

    def _give_native_slots(self, lane: Lane, now: datetime) -> None:
        """Each slot within the lead time gets the next waiting post, ``publish_at`` = slot."""
        lead = timedelta(minutes=lane.schedule.lead_minutes)
        for slot in slot_instants(lane.schedule, now, now + lead):
            if slot in lane.taken:
                continue
            queue = self._queue(lane)
            if not queue:
                return
            lane.taken.add(slot)
            self._ledger.set_fields(queue[0].id, publish_at=slot)
            self._grant(lane, queue[0], slot, now, publish_at=slot)

    def _grant(
        self,
        lane: Lane,
        post: Post,
        slot: datetime,
        now: datetime,
        publish_at: datetime | None = None,
        due: datetime | None = None,
    ) -> None:
        self._granted.add(post.id)
        self._fresh.discard(post.id)
        if due is not None:  # spacing counts from when it was due, not when it started: no drift
            lane.last_due = due
        late = (now - slot).total_seconds()
        log.info(
            "slot_taken",
            **lane.about(),
            post_id=post.id,
            slot=slot.isoformat(),
            late_seconds=round(late) if late >= 60 else None,
            publish_at=publish_at.isoformat() if publish_at else None,
        )
        self._publisher.kick(post.id)

    def _arm(self, lane: Lane, when: datetime | None) -> None:
        if when is None:
            self.timer.cancel(lane.job_id)
        else:
            self.timer.at(lane.job_id, when, self.tick)

    # -- pinned and scheduled posts ------------------------------------------------------

    def _waiting_posts(self) -> Iterator[tuple[Post, datetime]]:
        """Posts waiting for a time of their own: pinned (``publish_at``) or scheduled."""
        for post in self._ledger.list_posts(WAITING):
            if post.state is S.SCHEDULED and post.retry_at is not None:
                yield post, post.retry_at
            elif post.publish_at is not None and post.state is not S.SCHEDULED:
                yield post, max(post.publish_at, post.retry_at or post.publish_at)

    def _ring_posts(self, now: datetime) -> None:
        for post, when in self._waiting_posts():
            if when <= now:
                self._slot_passed(post, now)
                self._publisher.kick(post.id)
            else:
                kind = "confirm" if post.state is S.SCHEDULED else "pinned"
                self._arm_post(kind, post.id, when)

    def _slot_passed(self, post: Post, now: datetime) -> None:
        """A post given a native slot that has passed before its upload went through: it goes
        now, late, as a plain post (a platform refuses a publish time in the past)."""
        lane = self._lane_of(post)
        if lane is None or not lane.native or post.state is not S.READY:
            return
        if post.publish_at is None or post.publish_at > now or post.publish_at not in lane.taken:
            return
        self._ledger.set_fields(post.id, publish_at=None)
        log.warning(
            "native_slot_passed",
            **lane.about(),
            post_id=post.id,
            slot=post.publish_at.isoformat(),
            action="posted now, late",
        )

    def _arm_post(self, kind: str, post_id: int, when: datetime) -> None:
        def ring() -> None:
            self._publisher.kick(post_id)

        self.timer.at(f"{kind}:{post_id}", when, ring)
