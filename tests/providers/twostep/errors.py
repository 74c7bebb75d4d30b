"""The two-step platform's error answers in atroposd's vocabulary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from atroposd.errors import (
    AuthExpired,
    PermanentError,
    ProviderError,
    RateLimited,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import json_body, retry_after

NAME = "twostep"


def classify(response: httpx.Response, step: str, now: datetime) -> ProviderError:
    """``{"error": {"code", "message"}}`` (or OAuth's ``{"error": "..."}``) -> an error class."""
    body = json_body(response)
    err = body.get("error")
    if isinstance(err, dict):
        code, message = err.get("code"), err.get("message")
    else:  # OAuth errors carry a string code and an error_description
        code, message = err, body.get("error_description")
    status = response.status_code
    code = str(code or status)
    message = str(message or response.reason_phrase or "no message")
    kw: dict[str, Any] = {
        "platform": NAME,
        "code": code,
        "platform_message": message,
        "status": status,
    }
    text = f"{step}: HTTP {status} {code}: {message}"
    if status == 401:
        return AuthExpired(text, **kw)
    if status == 429:
        return RateLimited(text, retry_after=retry_after(response, now), **kw)
    if status >= 500 or status == 408:
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    if status == 409:  # publish before ready: nothing was posted, so asking again later is safe
        return TransientError(text, **kw)
    if status == 404:
        return SessionLost(text, **kw)
    return PermanentError(text, **kw)
