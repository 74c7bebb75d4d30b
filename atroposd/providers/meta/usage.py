"""Meta's rate-limit headers (providers.md §2.4).

``X-App-Usage`` / ``X-Page-Usage`` / ``X-Ad-Account-Usage`` carry percentages
(``{"call_count": 28, "total_cputime": 25, "total_time": 25}``);
``X-Business-Use-Case-Usage`` maps an object id to a list of usages, each with
``estimated_time_to_regain_access`` in **minutes**. Meta sends no ``Retry-After``; the wait is
the largest regain time any header gives (a ``Retry-After`` still wins when present).
Throttling starts at 100 % of any percentage.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from atroposd.providers._http import retry_after

USAGE_HEADERS = ("x-app-usage", "x-business-use-case-usage", "x-page-usage", "x-ad-account-usage")
REGAIN = "estimated_time_to_regain_access"  # minutes
PERCENTS = ("call_count", "total_cputime", "total_time")


def _entries(value: Any) -> Iterator[dict[str, Any]]:
    """Every usage object in a header's JSON, however deeply it is nested."""
    if isinstance(value, dict):
        if any(k in value for k in (*PERCENTS, REGAIN)):
            yield value
        for inner in value.values():
            if isinstance(inner, dict | list):
                yield from _entries(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _entries(inner)


def _number(value: object) -> float:
    try:
        return max(0.0, float(str(value)))
    except ValueError:
        return 0.0


@dataclass(frozen=True)
class Usage:
    """What the usage headers of one answer say: the highest percentage used and the longest
    regain time (minutes; 0 when none was given)."""

    percent: float = 0.0
    regain_minutes: float = 0.0
    seen: bool = False

    @classmethod
    def of(cls, response: httpx.Response) -> Usage:
        """Read every usage header of ``response``; malformed ones are ignored."""
        percent = regain = 0.0
        seen = False
        for name in USAGE_HEADERS:
            raw = response.headers.get(name)
            if not raw:
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            for entry in _entries(doc):
                seen = True
                percent = max([percent, *(_number(entry.get(k)) for k in PERCENTS)])
                regain = max(regain, _number(entry.get(REGAIN)))
        return cls(percent, regain, seen)

    @property
    def throttled(self) -> bool:
        """At or over 100 % of some budget."""
        return self.percent >= 100.0


def wait_seconds(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait before the next call: ``Retry-After`` if given, else the usage headers'
    ``estimated_time_to_regain_access`` (minutes → seconds); None when neither says."""
    explicit = retry_after(response, now)
    if explicit is not None:
        return explicit
    usage = Usage.of(response)
    return usage.regain_minutes * 60.0 if usage.regain_minutes > 0 else None
