"""Each platform's documented cap on published posts, as the forecast applies it.

From ``shared/providers.md`` (§0.1 summary table and each platform's "Quotas" section):

- YouTube: ``videos.insert`` 100 calls/day per Google Cloud *project* (the 2026 quota model,
  §1.5), reset at midnight Pacific; shared by every channel that posts through the project's
  client. The per-channel upload limit is undocumented (varies by channel): not modelled.
- Instagram: 50 API-published posts per IG account per rolling 24 h (§3.3; read the live
  value from ``content_publishing_limit``).
- Facebook: 30 API-published reels per Page per rolling 24 h (§4.4).
- TikTok: about 15 direct posts per creator per 24 h, shared by every app (§5.4).
- X: 100 posts per 15 min per user (§7.5); the 10,000/24 h per app is far above any schedule.
- Snapchat: no documented daily cap (§6): none applied.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` posts per rolling ``window``, or per calendar day in ``day_zone``."""

    name: str
    limit: int
    window: timedelta | None = None
    day_zone: str | None = None
    scope: Literal["account", "project"] = "account"  # project: all accounts together


DAY = timedelta(hours=24)
CAPS: dict[str, Cap] = {
    "youtube": Cap("youtube_uploads_per_day", 100, day_zone="America/Los_Angeles", scope="project"),
    "instagram": Cap("instagram_posts_24h", 50, window=DAY),
    "facebook": Cap("facebook_reels_24h", 30, window=DAY),
    "tiktok": Cap("tiktok_posts_24h", 15, window=DAY),
    "x": Cap("x_posts_15min", 100, window=timedelta(minutes=15)),
}


@dataclass
class Budget:
    """The posts one cap has counted (for one account, or for the project)."""

    cap: Cap
    recent: deque[datetime] = field(default_factory=deque)  # rolling window
    per_day: dict[date, int] = field(default_factory=dict)  # calendar days

    def __post_init__(self) -> None:
        self._zone = ZoneInfo(self.cap.day_zone or "UTC")
        self._span: tuple[datetime, datetime, date] | None = None  # the last day looked up

    def _day(self, at: datetime) -> date:
        """The calendar day of ``at`` in the cap's zone (the last day's bounds are kept: posts
        come in time order, so most lookups need no zone conversion)."""
        span = self._span
        if span is not None and span[0] <= at < span[1]:
            return span[2]
        day = at.astimezone(self._zone).date()
        start = datetime.combine(day, time(0), self._zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time(0), self._zone).astimezone(UTC)
        self._span = (start, end, day)
        return day

    def allows(self, at: datetime) -> bool:
        """True when one more post at ``at`` stays within the cap (posts come in time order)."""
        cap = self.cap
        if cap.window is not None:
            while self.recent and self.recent[0] <= at - cap.window:
                self.recent.popleft()
            return len(self.recent) < cap.limit
        return self.per_day.get(self._day(at), 0) < cap.limit

    def take(self, at: datetime) -> None:
        """Count a post at ``at`` (whether or not the cap allowed it: a pinned post goes)."""
        if self.cap.window is not None:
            self.allows(at)  # drop what left the window first
            self.recent.append(at)
        else:
            day = self._day(at)
            self.per_day[day] = self.per_day.get(day, 0) + 1


class Budgets:
    """Every cap's budgets, found by (platform, account)."""

    def __init__(self, caps: dict[str, Cap]) -> None:
        self._caps = caps
        self._budgets: dict[tuple[str, str], Budget] = {}

    def of(self, platform: str, account: str) -> Budget | None:
        """The budget a post of ``account`` on ``platform`` counts against, if capped."""
        cap = self._caps.get(platform)
        if cap is None:
            return None
        key = (cap.name, "*" if cap.scope == "project" else account)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = Budget(cap)
        return budget
