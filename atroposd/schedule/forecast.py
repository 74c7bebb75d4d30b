"""The inventory forecast and the upcoming-post listing (pure; issue 11).

Both come from one walk through time (``simulate``), so they never disagree:

- Each lane (account, platform) follows ``slots.effective_schedule``; a lane without slots
  posts immediately (its posts are listed at ``now``, and it has no run-out date).
- A post pinned by its sidecar's ``publish_at`` goes out at that time (at ``now`` if the
  time has passed), and so does a post that already took its slot and waits to retry (at its
  retry time); a natively scheduled post holds its slot. The other waiting posts take the
  lane's slots (``slots.slot_instants``) one each, in ``slots.queue_order``.
- A platform's cap (``caps.CAPS``) is applied as the walk goes: a slot that would exceed it
  is left empty and the clip moves to the next slot the cap allows (the daemon parks such a
  post until the platform's window frees). A lane whose slots the cap refused, or whose
  schedule alone would exceed the cap within a week, reports the cap as ``binding_limit``.

The run-out date-time of a lane is the last slot its current queue fills before the first
slot that finds nothing to post, in the schedule's zone (pinned posts take no slot: they do not
move it; one pinned on a slot after that first empty one does not either); ``days_left``
counts from ``now`` to it (0 when no waiting post takes a slot).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from atroposd.schedule.caps import CAPS, Budget, Budgets, Cap
from atroposd.schedule.model import ScheduleConfig
from atroposd.schedule.slots import (
    AccountLike,
    Queued,
    effective_schedule,
    queue_order,
    sidecar_order,
    slot_instants,
    zone,
)

Lane = tuple[str, str]  # (account, platform)
WEEK = timedelta(days=7)
CHUNK = timedelta(days=28)  # slot instants are asked for a window at a time
HORIZON = timedelta(days=366 * 50)  # a queue no schedule empties in 50 years is not placed


class PostLike(Protocol):
    """What the forecast reads of a waiting post (``store.queue.QueuedPost``)."""

    @property
    def id(self) -> int: ...
    @property
    def account(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def clip(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def pinned_at(self) -> datetime | None: ...
    @property
    def sidecar_json(self) -> str | None: ...


class EnabledPlatforms(Protocol):
    """``config.PlatformsConfig``: which platforms an account posts to."""

    def enabled(self) -> list[str]: ...


@dataclass(frozen=True)
class Upcoming:
    """One post and when it goes out (in its lane's zone)."""

    at: datetime
    account: str
    platform: str
    clip: str
    post_id: int


@dataclass(frozen=True)
class LaneForecast:
    """The inventory of one lane."""

    account: str
    platform: str
    mode: str  # "slots" or "immediate"
    queued: int
    posts_per_week: int | None
    runs_out_at: datetime | None
    days_left: float | None
    binding_limit: str | None


def lanes_of(accounts: Mapping[str, AccountLike]) -> dict[Lane, ScheduleConfig | None]:
    """Every enabled (account, platform) and the schedule it follows (None: immediate)."""
    lanes: dict[Lane, ScheduleConfig | None] = {}
    for name in sorted(accounts):
        acc = accounts[name]
        platforms: EnabledPlatforms = acc.platforms
        for platform in platforms.enabled():
            lanes[(name, platform)] = effective_schedule(acc, platform)
    return lanes


def _slot_stream(schedule: ScheduleConfig, now: datetime) -> Iterator[datetime]:
    """Slot instants after ``now``, forever (up to ``HORIZON``), a window at a time."""
    start = now
    while start < now + HORIZON:
        end = start + CHUNK
        yield from slot_instants(schedule, start, end)
        start = end


class _Series:
    """The slot instants of one schedule, made once however many lanes follow it."""

    def __init__(self, schedule: ScheduleConfig, now: datetime) -> None:
        self._stream = _slot_stream(schedule, now)
        self.times: list[datetime] = []

    def get(self, i: int) -> datetime | None:
        """The ``i``-th slot after now (0 = the first), or None when the schedule ends."""
        while len(self.times) <= i:
            at = next(self._stream, None)
            if at is None:
                return None
            self.times.append(at)
        return self.times[i]


@dataclass
class _Lane:
    """One lane during the walk: its pinned posts, its slot queue, its slots, its budget."""

    lane: Lane
    schedule: ScheduleConfig | None
    pinned: list[PostLike]
    queue: list[PostLike]
    pinned_times: set[datetime]  # a slot at one of these is already taken (natively scheduled)
    last_pin: datetime | None
    budget: Budget | None
    series: _Series | None = None
    slot_no: int = 0  # the next slot of ``series``
    taken: int = 0
    dry: bool = False  # a slot found nothing to post: the lane has run out

    def wants_slots(self, at: datetime) -> bool:
        """True while a slot after ``at`` may still be filled or be one a pinned post took,
        until the first slot that finds nothing (a post pinned later does not undo that)."""
        if self.series is None or self.dry:
            return False
        return self.taken < len(self.queue) or (self.last_pin is not None and at < self.last_pin)


class _Walk:
    """``simulate``'s state: placed posts (when ``record``), lanes a cap held back, each
    lane's last slot filled, and the heap of events (at, 0 pinned / 1 slot, lane no., index)."""

    def __init__(self, now: datetime, caps: Mapping[str, Cap], record: bool) -> None:
        self.now = now
        self.record = record
        self.budgets = Budgets(dict(caps))
        self.placed: dict[Lane, list[Upcoming]] = {}
        self.refused: dict[Lane, str] = {}
        self.last_slot: dict[Lane, datetime] = {}
        self.lanes: list[_Lane] = []
        self.series: dict[str, _Series] = {}
        self.heap: list[tuple[datetime, int, int, int]] = []

    def add(self, lane: Lane, schedule: ScheduleConfig | None, waiting: list[PostLike]) -> None:
        """Put a lane's pinned posts and its first slot on the heap."""
        now, no = self.now, len(self.lanes)
        pins = [p for p in waiting if p.pinned_at is not None or schedule is None]
        times = [max(now, p.pinned_at or now) for p in pins]
        rest = _ordered([p for p in waiting if p.pinned_at is None and schedule is not None])
        budget = self.budgets.of(lane[1], lane[0])
        state = _Lane(lane, schedule, pins, rest, set(times), max(times, default=None), budget)
        if schedule is not None:
            key = schedule.model_dump_json()
            state.series = self.series.get(key) or self.series.setdefault(
                key, _Series(schedule, now)
            )
        self.lanes.append(state)
        self.placed[lane] = []
        self.heap.extend((at, 0, no, i) for i, at in enumerate(times))
        self._next_slot(no, now)

    def _next_slot(self, no: int, at: datetime) -> None:
        state = self.lanes[no]
        if state.series is not None and state.wants_slots(at):
            slot = state.series.get(state.slot_no)
            state.slot_no += 1
            if slot is not None:
                heapq.heappush(self.heap, (slot, 1, no, -1))

    def run(self, until: datetime | None) -> None:
        """Take events in time order up to ``until``."""
        heapq.heapify(self.heap)
        while self.heap:
            at, kind, no, index = heapq.heappop(self.heap)
            if until is not None and at > until:
                return
            state = self.lanes[no]
            if kind == 0:
                self._place(state, state.pinned[index], at)
                continue
            self._slot(state, at)
            self._next_slot(no, at)

    def _slot(self, state: _Lane, at: datetime) -> None:
        if at in state.pinned_times:  # a natively scheduled post holds this slot
            self.last_slot[state.lane] = at
            return
        if state.taken >= len(state.queue):
            state.dry = True  # the run-out: later slots are not looked at
            return
        budget = state.budget
        if budget is not None and not budget.allows(at):
            self.refused[state.lane] = budget.cap.name
            return
        self._place(state, state.queue[state.taken], at)
        self.last_slot[state.lane] = at
        state.taken += 1

    def _place(self, state: _Lane, post: PostLike, at: datetime) -> None:
        budget = state.budget
        if budget is not None:
            budget.take(at)
        if self.record:
            self.placed[state.lane].append(Upcoming(at, *state.lane, post.clip, post.id))


def simulate(
    lanes: Mapping[Lane, ScheduleConfig | None],
    posts: Iterable[PostLike],
    now: datetime,
    until: datetime | None = None,
    caps: Mapping[str, Cap] = CAPS,
    record: bool = True,
) -> _Walk:
    """Where every waiting post goes (up to ``until``; UTC times, kept when ``record``), the
    lanes a cap held back, and the last slot each lane's queue fills."""
    by_lane: dict[Lane, list[PostLike]] = {lane: [] for lane in lanes}
    for post in posts:
        if (post.account, post.platform) in by_lane:
            by_lane[(post.account, post.platform)].append(post)
    walk = _Walk(now, caps, record)
    for lane, schedule in lanes.items():
        walk.add(lane, schedule, by_lane[lane])
    walk.run(until)
    return walk


def _ordered(posts: list[PostLike]) -> list[PostLike]:
    """The posts in the order slots take them (``slots.queue_order``)."""
    by_id = {p.id: p for p in posts}
    items = [Queued(p.id, p.created_at, sidecar_order(p.sidecar_json)) for p in posts]
    return [by_id[q.post_id] for q in queue_order(items)]


def upcoming(
    lanes: Mapping[Lane, ScheduleConfig | None],
    posts: Iterable[PostLike],
    now: datetime,
    until: datetime,
    caps: Mapping[str, Cap] = CAPS,
) -> list[Upcoming]:
    """The posts going out from ``now`` to ``until``, in time order."""
    walk = simulate(lanes, posts, now, until, caps)
    rows = sorted(
        (u for placed in walk.placed.values() for u in placed if u.at <= until),
        key=lambda u: (u.at, u.account, u.platform, u.post_id),
    )
    return [replace(u, at=_local(lanes[(u.account, u.platform)], u.at)) for u in rows]


def _local(schedule: ScheduleConfig | None, at: datetime) -> datetime:
    """``at`` in the schedule's zone (UTC for an immediate lane)."""
    return at.astimezone(zone(schedule.timezone)) if schedule is not None else at


def forecast(
    lanes: Mapping[Lane, ScheduleConfig | None],
    posts: Iterable[PostLike],
    now: datetime,
    caps: Mapping[str, Cap] = CAPS,
) -> list[LaneForecast]:
    """The inventory of every lane, by account and platform."""
    waiting = list(posts)
    walk = simulate(lanes, waiting, now, None, caps, record=False)
    counts: dict[Lane, int] = {}
    for p in waiting:
        counts[(p.account, p.platform)] = counts.get((p.account, p.platform), 0) + 1
    weeks: dict[str, list[datetime]] = {}  # a week of slots per distinct schedule
    rows = []
    for lane in sorted(lanes):
        schedule = lanes[lane]
        queued = counts.get(lane, 0)
        if schedule is None:
            rows.append(LaneForecast(*lane, "immediate", queued, None, None, None, None))
            continue
        last = walk.last_slot.get(lane)
        days = round((last - now).total_seconds() / 86400, 2) if last is not None else 0.0
        days = max(days, 0.0)
        local = last.astimezone(zone(schedule.timezone)) if last is not None else None
        key = schedule.model_dump_json()
        week = weeks.get(key)
        if week is None:
            week = weeks[key] = list(slot_instants(schedule, now, _week_after(schedule, now)))
        cap = caps.get(lane[1])
        binding = walk.refused.get(lane) or _cap_binds(week, cap) or "schedule"
        rows.append(LaneForecast(*lane, "slots", queued, len(week), local, days, binding))
    return rows


def _week_after(schedule: ScheduleConfig, now: datetime) -> datetime:
    """The end of the week from ``now`` on the zone's wall clock (a DST week is 167 or 169
    hours). ``slot_instants`` gives ``now < t <= end``: one end of the week is in it, so a
    daily slot is 7 a week also when asked at the slot's own instant."""
    local = now.astimezone(zone(schedule.timezone))
    return (local + WEEK).astimezone(UTC)


def _cap_binds(week: list[datetime], cap: Cap | None) -> str | None:
    """The cap's name when a week of the schedule's slots alone would exceed it."""
    if cap is None or len(week) <= cap.limit:
        return None
    budget = Budget(cap)
    for at in week:
        if not budget.allows(at):
            return cap.name
        budget.take(at)
    return None


def inventory_json(f: LaneForecast) -> dict[str, Any]:
    """One lane of ``inventory --json`` and ``GET /api/inventory`` (the documented shape)."""
    return {
        "account": f.account,
        "platform": f.platform,
        "mode": f.mode,
        "queued": f.queued,
        "posts_per_week": f.posts_per_week,
        "runs_out_at": f.runs_out_at.isoformat() if f.runs_out_at else None,
        "days_left": f.days_left,
        "binding_limit": f.binding_limit,
    }


def upcoming_json(u: Upcoming) -> dict[str, Any]:
    """One post of ``schedule --json`` and ``GET /api/schedule``."""
    return {
        "at": u.at.isoformat(),
        "account": u.account,
        "platform": u.platform,
        "clip": u.clip,
        "post_id": u.post_id,
    }
