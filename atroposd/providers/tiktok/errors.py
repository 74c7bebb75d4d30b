"""TikTok's error answers in atroposd's vocabulary (providers.md §5.4, §5.5).

Every content-posting answer is ``{"data": {...}, "error": {"code", "message", "log_id"}}``;
success is ``error.code == "ok"``, and a non-``ok`` code can come with HTTP 200, so the body
decides, not only the status. The token endpoint answers RFC 6749 errors (``providers/auth``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from atroposd.errors import (
    AuthExpired,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from atroposd.providers._http import json_body, retry_after

NAME = "tiktok"
# No Retry-After is documented for TikTok's 429 (providers.md §5.4 [UNSURE]): wait a full
# minute, the length of every per-endpoint window (6/min init, 20/min creator_info, 30/min
# status/fetch), unless the answer carries its own header.
RATE_WINDOW_S = 60.0
# Per-creator daily post cap (~15 direct posts / 24 h, rolling, shared by every app the creator
# uses) and the app's active-user cap: TikTok gives no reset time, so the post waits the whole
# rolling window from now, the latest the oldest counted post can age out.
CAP_WINDOW = timedelta(hours=24)
CAPPED = frozenset(
    {"spam_risk_too_many_posts", "spam_risk_too_many_pending_share", "reached_active_user_cap"}
)
REAUTH = frozenset({"scope_not_authorized", "scope_permission_missed"})
TOKEN_DEAD = frozenset({"access_token_invalid", "access_token_expired"})


def error_of(response: httpx.Response) -> tuple[str, str, str]:
    """``(code, message, log_id)`` of an answer; code ``ok`` for success."""
    err = json_body(response).get("error")
    if isinstance(err, dict):
        code = str(err.get("code") or "")
        return code, str(err.get("message") or ""), str(err.get("log_id") or "")
    if isinstance(err, str):  # OAuth-style {"error": "...", "error_description": "..."}
        return err, str(json_body(response).get("error_description") or ""), ""
    return "", "", ""


def succeeded(response: httpx.Response) -> bool:
    """2xx with ``error.code == "ok"``: TikTok may answer an error with HTTP 200."""
    code, _, _ = error_of(response)
    return 200 <= response.status_code < 300 and code == "ok"


def data_of(response: httpx.Response) -> dict[str, Any]:
    """The ``data`` object of a successful answer (``{}`` if absent)."""
    data = json_body(response).get("data")
    return data if isinstance(data, dict) else {}


def classify(response: httpx.Response, step: str, now: datetime) -> ProviderError:
    """Classify a TikTok error answer (providers.md §5.5)."""
    code, message, log_id = error_of(response)
    status = response.status_code
    code = code if code and code != "ok" else str(status)
    message = message or response.reason_phrase or "no message"
    kw: dict[str, Any] = {
        "platform": NAME,
        "code": code,
        "platform_message": message,
        "status": status,
    }
    text = f"{step}: HTTP {status} {code}: {message}" + (f" (log_id {log_id})" if log_id else "")
    if code in REAUTH:
        return ReauthRequired(f"{text}; log in to TikTok again granting video.publish", **kw)
    if status == 401 or code in TOKEN_DEAD:
        return AuthExpired(text, **kw)
    if code in CAPPED:
        return QuotaExhausted(text, retry_at=now + CAP_WINDOW, **kw)
    if status == 429 or code == "rate_limit_exceeded":
        wait = retry_after(response, now)
        return RateLimited(text, retry_after=RATE_WINDOW_S if wait is None else wait, **kw)
    if status >= 500 or status == 408 or code == "internal_error":
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    return PermanentError(text, **kw)
