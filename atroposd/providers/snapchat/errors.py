"""Snap's error answers in atroposd's vocabulary (providers.md §6.5).

Envelope: ``{"request_status": "ERROR", "request_id", "debug_message", "display_message",
"error_code"}``; batch answers can be HTTP 200 with ``request_status: ERROR`` or an item's
``sub_request_status: ERROR``, so a 2xx is only a success when the envelope says so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from atroposd.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    RateLimited,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import json_body, retry_after

NAME = "snapchat"
PROCESSING = "MEDIA_PROCESSING"  # posted before the media finished processing: retry later
EXPIRED = "MEDIA_EXPIRED"  # the media object is older than 24 h
IN_PROGRESS = "MEDIA_POSTING_ALREADY_IN_PROGRESS"  # a post of this media already runs


def failed_item(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first item of a batch answer whose ``sub_request_status`` is ERROR, if any."""
    for value in body.values():
        if isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and str(item.get("sub_request_status", "")).upper() == (
                    "ERROR"
                ):
                    return item
    return None


def succeeded(response: httpx.Response) -> bool:
    """A 2xx whose envelope (and every batch item) says SUCCESS."""
    if not 200 <= response.status_code < 300:
        return False
    body = json_body(response)
    status = str(body.get("request_status", "SUCCESS")).upper()
    return status in ("SUCCESS", "PARTIAL") and failed_item(body) is None


def classify(response: httpx.Response, step: str, now: datetime) -> ProviderError:
    """Classify a Snap error answer (HTTP status, then ``error_code``)."""
    body = json_body(response)
    item = failed_item(body) or {}
    code = str(body.get("error_code") or item.get("error_code") or response.status_code)
    message = str(
        body.get("display_message")
        or body.get("debug_message")
        or item.get("display_message")
        or item.get("debug_message")
        or body.get("error_description")
        or response.reason_phrase
        or "no message"
    )
    status = response.status_code
    kw: dict[str, Any] = {
        "platform": NAME,
        "code": code,
        "platform_message": message,
        "status": status,
    }
    text = f"{step}: HTTP {status} {code}: {message}"
    if status == 403:  # the Public Profile API is allowlist-only (providers.md §6)
        text += (
            " (is the Snap app allowlisted for the Public Profile API, and is profile_id a "
            "Public Profile this login manages?)"
        )
    if status == 401:
        return AuthExpired(text, **kw)
    if status == 429:  # Snap sends no wait signal (providers.md §6.4); honoured if one comes
        return RateLimited(text, retry_after=retry_after(response, now), **kw)
    if code == PROCESSING:
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    if code == IN_PROGRESS:  # Snap's own guard: a post of this media may exist (§6.6)
        return OutcomeUnknown(text, **kw)
    if code == EXPIRED:
        return SessionLost(text, **kw)
    if status >= 500 or status == 408:
        return TransientError(text, retry_after=retry_after(response, now), **kw)
    if status == 404:
        return SessionLost(text, **kw)
    return PermanentError(text, **kw)
