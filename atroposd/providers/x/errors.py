"""X's answers in atroposd's vocabulary, and the rate-limit headers of every answer.

X answers errors as problem JSON (``type``, ``title``, ``detail``, ``status``; providers.md
§7.6) and sends ``x-rate-limit-limit/-remaining/-reset`` (reset in unix seconds) on every
answer, no ``Retry-After``. ``POST /2/tweets`` may also send the app's and the user's daily
caps as ``x-app-limit-24hour-*`` / ``x-user-limit-24hour-*``.

Posting limits (100 posts per user per 15 minutes, 10 000 per app per day) *park* the post
until the reset (``QuotaExhausted``: no attempt is spent); a 429 on a media step is
``RateLimited`` with the wait until the named reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from atroposd.errors import (
    AuthExpired,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import json_body, retry_after

NAME = "x"
POST_STEP = "tweet"  # the rate-limit group of POST /2/tweets
DAILY = ("x-app-limit-24hour", "x-user-limit-24hour")
DUPLICATE = "duplicate content"


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reset_at(response: httpx.Response, prefix: str) -> datetime | None:
    reset = _int(response.headers.get(f"{prefix}-reset"))
    return datetime.fromtimestamp(reset, UTC) if reset is not None else None


def exhausted_daily(response: httpx.Response) -> datetime | None:
    """When a used-up daily cap (app or user) resets, if one is used up."""
    for prefix in DAILY:
        if _int(response.headers.get(f"{prefix}-remaining")) == 0:
            return _reset_at(response, prefix)
    return None


@dataclass
class Limits:
    """The last ``x-rate-limit-*`` answer per (account, endpoint): requests are not sent into
    a window X already said is used up."""

    windows: dict[tuple[str, str], tuple[int, datetime]]
    daily: dict[str, datetime]  # account -> when its used-up daily post cap resets

    @classmethod
    def empty(cls) -> Limits:
        """No answer seen yet."""
        return cls({}, {})

    def note(self, account: str, group: str, response: httpx.Response) -> None:
        """Remember the headers of one answer."""
        remaining = _int(response.headers.get("x-rate-limit-remaining"))
        reset = _reset_at(response, "x-rate-limit")
        if remaining is not None and reset is not None:
            self.windows[(account, group)] = (remaining, reset)
        if group == POST_STEP:
            daily = exhausted_daily(response)
            if daily is not None:
                self.daily[account] = daily

    def check(self, account: str, group: str, now: datetime) -> None:
        """Raise instead of sending into a used-up window (posts park, media steps wait)."""
        waits: list[datetime] = []
        remaining, reset = self.windows.get((account, group), (1, now))
        if remaining <= 0 and reset > now:
            waits.append(reset)
        daily = self.daily.get(account)
        if group == POST_STEP and daily is not None and daily > now:
            waits.append(daily)
        if not waits:
            return
        until = max(waits)
        text = f"{group}: X's rate limit is used up until {until.isoformat()}; not sent"
        if group == POST_STEP:
            raise QuotaExhausted(text, retry_at=until, platform=NAME, code="rate-limit", status=429)
        seconds = (until - now).total_seconds()
        raise RateLimited(text, retry_after=seconds, platform=NAME, code="rate-limit", status=429)


def problem_of(response: httpx.Response) -> tuple[str, str]:
    """(type name, detail) of a problem JSON (or legacy ``errors``) answer."""
    body = json_body(response)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict) and "type" not in body:
        first: dict[str, Any] = errors[0]
        return str(first.get("code") or first.get("type") or ""), str(first.get("message") or "")
    kind = str(body.get("type") or "")
    name = kind.rsplit("/", 1)[-1] if kind.startswith("http") else kind
    detail = str(body.get("detail") or body.get("title") or response.reason_phrase or "")
    return name or str(response.status_code), detail


def is_duplicate(response: httpx.Response) -> bool:
    """X's 403 for the same text posted again (the first post may be ours)."""
    return response.status_code == 403 and DUPLICATE in problem_of(response)[1].lower()


def classify(
    response: httpx.Response, step: str, group: str, now: datetime, oauth1: bool = False
) -> ProviderError:
    """One non-success answer as a typed error (providers.md §7.6)."""
    status = response.status_code
    code, detail = problem_of(response)
    kw: dict[str, Any] = {
        "platform": NAME,
        "code": code,
        "platform_message": detail,
        "status": status,
    }
    text = f"{step}: HTTP {status} {code}: {detail}"
    if status == 401:
        if oauth1:  # OAuth 1.0a tokens never expire: revoked, or the keys are wrong
            return ReauthRequired(text + "; log in to X again (OAuth 1.0a)", **kw)
        return AuthExpired(text, **kw)
    if status == 429 or code == "usage-capped":
        return _throttled(response, text, group, now, kw)
    if status == 404:
        return SessionLost(text, **kw)
    if status >= 500 or status == 408:
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    return PermanentError(text, **kw)


def _throttled(
    response: httpx.Response, text: str, group: str, now: datetime, kw: dict[str, Any]
) -> ProviderError:
    daily = exhausted_daily(response)
    window = _reset_at(response, "x-rate-limit")
    wait = retry_after(response, now)
    if wait is None and window is not None:
        wait = max(0.0, (window - now).total_seconds())
    if group == POST_STEP or daily is not None or kw["code"] == "usage-capped":
        until = daily or (now + timedelta(seconds=wait) if wait is not None else None)
        return QuotaExhausted(text, retry_at=until or now + timedelta(minutes=15), **kw)
    return RateLimited(text, retry_after=wait, **kw)
