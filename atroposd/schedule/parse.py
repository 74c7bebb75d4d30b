"""Parsing the parts of a ``schedule`` block: zone, day specs, ``HH:MM`` times, cron.

Pure; every error is a ``ValueError`` whose message names the bad value (the config loader
prefixes it with ``<file>: accounts.<a>.schedule.<key>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
EVERY_DAY = ("daily", "every day", "*")


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone such as ``America/New_York``."""
    if not name or name != name.strip() or name.startswith("/") or ".." in name:
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. 'America/New_York')")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not an IANA time zone (e.g. 'America/New_York', 'Europe/London')"
        ) from None


def _day(name: str, spec: str) -> int:
    word = name.strip().lower()
    for index, short in enumerate(DAYS):
        if word in (short, DAY_NAMES[index]):
            return index
    raise ValueError(f"{spec!r}: {name.strip()!r} is not a day (mon, tue, ... sun)")


def parse_days(spec: str) -> frozenset[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed,fri"``, ``"fri-mon"`` (wraps), ``"daily"``."""
    if spec.strip().lower() in EVERY_DAY:
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            a, b = _day(first, spec), _day(last, spec)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_day(part, spec))
    return frozenset(days)


def parse_time(text: str) -> tuple[int, int]:
    """``"09:00"`` -> (9, 0); 24-hour ``HH:MM`` from 00:00 to 23:59."""
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2 or len(hh) > 2:
        raise ValueError(f"{text!r} is not a time (use 24-hour HH:MM, e.g. '09:00', '18:30')")
    hour, minute = int(hh), int(mm)
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time (use 24-hour HH:MM, from 00:00 to 23:59)")
    return hour, minute


@dataclass(frozen=True)
class Cron:
    """A standard five-field cron expression, expanded: minute hour day-of-month month weekday."""

    minutes: frozenset[int]
    hours: frozenset[int]
    mdays: frozenset[int]
    months: frozenset[int]
    wdays: frozenset[int]  # 0 = Monday (datetime.weekday())
    mday_any: bool
    wday_any: bool

    def day_matches(self, month: int, mday: int, wday: int) -> bool:
        """Cron's rule: when both day fields are restricted, either one matching is enough."""
        if month not in self.months:
            return False
        if self.mday_any or self.wday_any:
            return mday in self.mdays and wday in self.wdays
        return mday in self.mdays or wday in self.wdays

    def times(self) -> tuple[tuple[int, int], ...]:
        """Every (hour, minute) of a matching day, in order."""
        return tuple((h, m) for h in sorted(self.hours) for m in sorted(self.minutes))


def _value(text: str, low: int, high: int, names: tuple[str, ...], base: int, expr: str) -> int:
    word = text.lower()
    if word in names:
        return names.index(word) + base
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"cron {expr!r}: {text!r} is out of range {low}-{high}")
    return int(text)


def _field(
    text: str, low: int, high: int, expr: str, names: tuple[str, ...] = (), base: int = 0
) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"cron {expr!r}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            first, _, last = rng.partition("-")
            a = _value(first, low, high, names, base, expr)
            b = _value(last, low, high, names, base, expr)
            if a > b:
                raise ValueError(f"cron {expr!r}: range {rng!r} runs backwards")
        else:
            a = _value(rng, low, high, names, base, expr)
            b = high if step_text else a
        values.update(range(a, b + 1, step))
    return frozenset(values)


def parse_cron(expr: str) -> Cron:
    """``"0 9,18 * * 1-5"``: minute hour day-of-month month day-of-week (0 or 7 = Sunday)."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron {expr!r}: needs five fields (minute hour day-of-month month day-of-week), "
            f"got {len(fields)}"
        )
    minute, hour, mday, month, wday = fields
    cron_days = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
    sunday_first = _field(wday, 0, 7, expr, cron_days)
    return Cron(
        minutes=_field(minute, 0, 59, expr),
        hours=_field(hour, 0, 23, expr),
        mdays=_field(mday, 1, 31, expr),
        months=_field(month, 1, 12, expr, MONTHS, base=1),
        wdays=frozenset((d - 1) % 7 for d in sunday_first),  # cron 0/7 = Sun -> 6
        mday_any=mday == "*",
        wday_any=wday == "*",
    )
