"""Google's error answers in atroposd's vocabulary (providers.md §1.6)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from atroposd.errors import (
    AuthExpired,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import json_body, retry_after

NAME = "youtube"
PACIFIC = ZoneInfo("America/Los_Angeles")


def next_pacific_midnight(now: datetime) -> datetime:
    """When YouTube's daily quotas reset."""
    local = now.astimezone(PACIFIC)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(now.tzinfo)


def classify(response: httpx.Response, step: str, now: datetime) -> ProviderError:
    """Classify a Google error answer (providers.md §1.6)."""
    err = json_body(response).get("error", {})
    err = err if isinstance(err, dict) else {"message": str(err)}
    first = (err.get("errors") or [{}])[0]
    reason = str(first.get("reason") or err.get("status") or response.status_code)
    message = str(err.get("message") or response.reason_phrase or "no message")
    status = response.status_code
    kw: dict[str, Any] = {
        "platform": NAME,
        "code": reason,
        "platform_message": message,
        "status": status,
    }
    text = f"{step}: HTTP {status} {reason}: {message}"
    if status == 401:
        return AuthExpired(text, **kw)
    if reason == "uploadLimitExceeded":
        return QuotaExhausted(text, retry_at=now + timedelta(hours=24), **kw)
    if reason == "quotaExceeded" or (status == 429 and "per day" in message):
        return QuotaExhausted(text, retry_at=next_pacific_midnight(now), **kw)
    if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        return RateLimited(text, retry_after=retry_after(response, now), **kw)
    if status == 404:
        return SessionLost(text, **kw)
    if status >= 500 or status == 408:
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    return PermanentError(text, **kw)
