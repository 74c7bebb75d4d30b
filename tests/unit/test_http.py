"""Retry-After parsing and YouTube's quota reset time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from atroposd.providers._http import retry_after
from atroposd.providers.youtube import next_pacific_midnight

PACIFIC = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def resp(value: str | None) -> httpx.Response:
    headers = {"Retry-After": value} if value is not None else {}
    return httpx.Response(429, headers=headers)


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), ("0", 0.0), (" 5 ", 5.0)])
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert retry_after(resp(value), NOW) == seconds


def test_retry_after_negative_is_zero() -> None:
    assert retry_after(resp("-30"), NOW) == 0.0


def test_retry_after_missing_or_garbage_is_none() -> None:
    assert retry_after(resp(None), NOW) is None
    assert retry_after(resp(""), NOW) is None
    assert retry_after(resp("soon"), NOW) is None


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 01 Mar 2026 12:01:30 GMT",  # IMF-fixdate
        "Sunday, 01-Mar-26 12:01:30 GMT",  # obsolete RFC 850
        "Sun Mar  1 12:01:30 2026",  # obsolete asctime (RFC 9110 says: accept it, it is GMT)
    ],
)
def test_retry_after_http_date_in_every_format(value: str) -> None:
    assert retry_after(resp(value), NOW) == 90.0


def test_retry_after_http_date_in_the_past_is_zero() -> None:
    assert retry_after(resp("Sun, 01 Mar 2026 11:00:00 GMT"), NOW) == 0.0


def _check_midnight(now: datetime, expected_local: datetime) -> None:
    got = next_pacific_midnight(now)
    assert got.tzinfo is not None and got.utcoffset() is not None
    assert got > now
    assert got.astimezone(PACIFIC).replace(tzinfo=None) == expected_local
    assert got - now <= timedelta(hours=25)


def test_next_pacific_midnight_ordinary_day() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # 04:00 PST
    got = next_pacific_midnight(now)
    assert got == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # midnight PST = 08:00 UTC
    _check_midnight(now, datetime(2026, 3, 2, 0, 0))


def test_next_pacific_midnight_before_dst_ends() -> None:
    # 2026-11-01 02:00 PDT -> 01:00 PST. Midnight starting Nov 1 is still PDT (UTC-7).
    now = datetime(2026, 10, 31, 20, 0, tzinfo=PACIFIC)
    assert next_pacific_midnight(now) == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    _check_midnight(now, datetime(2026, 11, 1, 0, 0))


def test_next_pacific_midnight_on_the_dst_end_day_is_25_hours_away() -> None:
    now = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # exactly midnight PDT on Nov 1
    got = next_pacific_midnight(now)
    assert got == datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # midnight PST
    assert got - now == timedelta(hours=25)


def test_next_pacific_midnight_across_dst_start() -> None:
    # 2026-03-08 02:00 PST -> 03:00 PDT: that day has 23 hours.
    now = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # midnight PST on Mar 8
    got = next_pacific_midnight(now)
    assert got == datetime(2026, 3, 9, 7, 0, tzinfo=UTC)
    assert got - now == timedelta(hours=23)


def test_next_pacific_midnight_just_before_midnight() -> None:
    now = datetime(2026, 11, 1, 23, 59, 59, tzinfo=PACIFIC)
    got = next_pacific_midnight(now)
    assert got - now == timedelta(seconds=1)


def test_next_pacific_midnight_keeps_callers_timezone() -> None:
    got = next_pacific_midnight(NOW)
    assert got.utcoffset() == timedelta(0)
