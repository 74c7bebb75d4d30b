"""Slot arithmetic shared by the scheduler and the inventory forecast (pure).

- ``effective_schedule(account_cfg, platform)``: the schedule a lane (account, platform)
  follows, or None when it posts immediately.
- ``slot_instants(schedule, after, until)``: the slot instants ``after < t <= until``, aware
  UTC, in order. DST: a wall time that does not exist that day (spring forward) fires at the
  next valid minute; one that exists twice (fall back) fires once, at its first occurrence.
  Two instants closer than ``min_spacing_minutes`` keep the first.
- ``queue_order(items)``: which waiting post a slot takes next: posts with a sidecar
  ``order`` first (ascending), then the rest oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from atroposd.schedule.model import ScheduleConfig
from atroposd.schedule.parse import Cron, parse_cron, parse_days, parse_time, parse_zone

LOOKBACK = timedelta(days=8)  # enough to find the last slot of any weekly schedule
Weekly = tuple[tuple[tuple[int, int], ...], ...]  # per weekday (0 = Monday): sorted HH:MM


class _HasSchedule(Protocol):
    schedule: ScheduleConfig | None


class AccountLike(Protocol):
    """What ``effective_schedule`` reads of an account (``config.AccountConfig``)."""

    schedule: ScheduleConfig | None

    @property
    def platforms(self) -> Any: ...


def effective_schedule(account_cfg: AccountLike, platform: str) -> ScheduleConfig | None:
    """The lane's schedule: the platform's block laid over the account's; None = immediate.

    Fields the platform block sets win; when it sets ``slots`` or ``cron`` it replaces both.
    """
    base = account_cfg.schedule
    block: _HasSchedule | None = getattr(account_cfg.platforms, platform, None)
    own = block.schedule if block is not None else None
    merged = base
    if own is not None:
        update = own.model_dump(exclude_unset=True)
        if "slots" in update or "cron" in update:
            update.setdefault("slots", None)
            update.setdefault("cron", None)
        merged = base.model_copy(update=update) if base is not None else own
    if merged is None or not is_slotted(merged):
        return None
    return merged


def is_slotted(schedule: ScheduleConfig) -> bool:
    """True when the schedule posts in slots (mode ``slots``, or slots/cron given, no mode)."""
    if schedule.mode == "immediate":
        return False
    return bool(schedule.slots or schedule.cron)


@lru_cache(maxsize=256)
def _weekly(slots: tuple[tuple[str, tuple[str, ...]], ...]) -> Weekly:
    days: list[set[tuple[int, int]]] = [set() for _ in range(7)]
    for spec, times in slots:
        parsed = [parse_time(t) for t in times]
        for day in parse_days(spec):
            days[day].update(parsed)
    return tuple(tuple(sorted(d)) for d in days)


@lru_cache(maxsize=256)
def _cron(expr: str) -> Cron:
    return parse_cron(expr)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The schedule's zone (validated at config load)."""
    return parse_zone(name)


def _times_on(schedule: ScheduleConfig, day: date) -> tuple[tuple[int, int], ...]:
    if schedule.cron:
        cron = _cron(schedule.cron)
        return cron.times() if cron.day_matches(day.month, day.day, day.weekday()) else ()
    key = tuple(sorted((k, tuple(v)) for k, v in (schedule.slots or {}).items()))
    return _weekly(key)[day.weekday()]


def wall_to_utc(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    """The instant of a local wall time: a skipped time moves to the next valid minute, a
    repeated one is its first occurrence."""
    wall = datetime.combine(day, time(hour, minute))
    for step in range(0, 24 * 60):
        candidate = (wall + timedelta(minutes=step)).replace(tzinfo=tz, fold=0)
        back = candidate.astimezone(UTC).astimezone(tz)
        if back.replace(tzinfo=None) == candidate.replace(tzinfo=None):
            return candidate.astimezone(UTC)
    raise ValueError(f"no valid time after {wall} in {tz}")  # no zone skips a whole day


def _raw_instants(schedule: ScheduleConfig, start: datetime) -> Iterator[datetime]:
    """Every slot instant from ``start``'s local day on, in order (no spacing), forever."""
    tz = zone(schedule.timezone)
    day = start.astimezone(tz).date()
    last: datetime | None = None
    empty_days = 0
    while empty_days < 400:  # a cron such as "0 9 30 2 *" never fires: stop after a year
        times = _times_on(schedule, day)
        empty_days = 0 if times else empty_days + 1
        for hour, minute in times:
            at = wall_to_utc(day, hour, minute, tz)
            if last is None or at > last:  # two skipped times landing on one minute: once
                last = at
                yield at
        day += timedelta(days=1)


def slot_instants(schedule: ScheduleConfig, after: datetime, until: datetime) -> Iterator[datetime]:
    """Slot instants ``after < t <= until`` (aware UTC, ascending), min spacing applied.

    Spacing is measured from the slots before ``after`` too (from a fixed look-back), so the
    scheduler and the forecast see the same instants whatever window they ask for.
    """
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("slot_instants needs aware datetimes")
    spacing = timedelta(minutes=schedule.min_spacing_minutes)
    start = after - max(timedelta(days=1), spacing)
    kept: datetime | None = None
    for at in _raw_instants(schedule, start):
        if at > until:
            return
        if kept is not None and at - kept < spacing:
            continue
        kept = at
        if at > after:
            yield at


def last_slot(schedule: ScheduleConfig, at: datetime) -> datetime | None:
    """The latest slot instant at or before ``at`` (within ``LOOKBACK``), or None."""
    found = None
    for found in slot_instants(schedule, at - LOOKBACK, at):  # noqa: B007 - keep the last
        pass
    return found


def next_slot(schedule: ScheduleConfig, after: datetime) -> datetime | None:
    """The first slot instant strictly after ``after`` (within a year), or None."""
    return next(iter(slot_instants(schedule, after, after + timedelta(days=366))), None)


@dataclass(frozen=True)
class Queued:
    """A post waiting for a slot, as the queue order sees it."""

    post_id: int
    created_at: datetime
    order: float | None = None


def sidecar_order(sidecar_json: str | None) -> float | None:
    """The ``order`` a clip's sidecar gives (as stored in the ledger), or None."""
    if not sidecar_json:
        return None
    try:
        value = json.loads(sidecar_json).get("order")
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def queue_order(items: Iterable[Queued]) -> list[Queued]:
    """Explicit ``order`` first (ascending), then oldest first; ties by post id."""

    def key(item: Queued) -> tuple[int, float, datetime, int]:
        created = item.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        if item.order is not None:
            return (0, item.order, created, item.post_id)
        return (1, 0.0, created, item.post_id)

    return sorted(items, key=key)
