"""Meta's Graph error envelope in atroposd's vocabulary (providers.md §2.3, §2.4, §3.4).

``{"error": {"message", "type", "code", "error_subcode", "is_transient", "error_user_title",
"error_user_msg", "fbtrace_id"}}``. The classes:

- 190 (subcodes 458/460/463/464/467/492) and 102, or HTTP 401 → ``ReauthRequired`` for that
  account and platform (``MetaTokens.send`` first re-exchanges the token once);
- HTTP 429, codes 4/17/32/613 and the Business Use Case codes 80001–80014 → ``RateLimited``
  with the wait of ``Retry-After`` or the usage headers' ``estimated_time_to_regain_access``
  (minutes), else the pipeline's backoff;
- 9/2207042 (publishing cap) → ``QuotaExhausted`` (the platform refines ``retry_at``);
- -2/2207020 (container expired) → ``SessionLost`` (a new container is safe);
- 9007/2207027 (not ready), ``is_transient``, codes 1/2, -1/-2, HTTP 5xx/408 → ``TransientError``;
- everything else (100, 2207xxx validation, 10/200 permissions, 25 restricted, 352 format)
  → ``PermanentError`` with Meta's ``error_user_msg`` (else ``message``) as the platform's
  words and ``code`` as ``"<code>"`` or ``"<code>/<subcode>"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from atroposd.errors import (
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import json_body
from atroposd.providers.auth.grants import META_THROTTLED, META_TRANSIENT
from atroposd.providers.meta.usage import wait_seconds

BUC_CODES = frozenset(range(80001, 80015))  # Business Use Case throttling (§2.4)
AUTH_CODES = frozenset({190, 102})
RETRY_SUBCODES = frozenset({2207003, 2207032, 2207053})  # download slow, create failed, unknown
# Facebook's Video API (providers.md §4.5): 1363019 "problem uploading, try again", 1363030
# "upload timed out", and 6000 "problem uploading the video file" are worth retrying.
VIDEO_RETRY_SUBCODES = frozenset({1363019, 1363030})
VIDEO_RETRY_CODE = 6000
CAP = (9, 2207042)  # Instagram: max posts in 24 h reached
NOT_READY = (9007, 2207027)
EXPIRED_SUBCODE = 2207020
CAP_FALLBACK = timedelta(hours=24)  # rolling window: the worst case when nothing better is known

__all__ = [
    "BUC_CODES",
    "META_THROTTLED",
    "META_TRANSIENT",
    "GraphError",
    "classify",
    "is_auth_error",
]


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class GraphError:
    """One Graph API error envelope."""

    code: int | None
    subcode: int | None
    type: str
    message: str
    user_title: str
    user_msg: str
    is_transient: bool
    fbtrace_id: str

    @classmethod
    def parse(cls, body: dict[str, Any]) -> GraphError | None:
        """The envelope in ``body``; None when it has none."""
        err = body.get("error")
        if not isinstance(err, dict):
            return None
        return cls(
            code=_int(err.get("code")),
            subcode=_int(err.get("error_subcode")),
            type=str(err.get("type") or ""),
            message=str(err.get("message") or ""),
            user_title=str(err.get("error_user_title") or ""),
            user_msg=str(err.get("error_user_msg") or ""),
            is_transient=err.get("is_transient") is True,
            fbtrace_id=str(err.get("fbtrace_id") or ""),
        )

    @classmethod
    def of(cls, response: httpx.Response) -> GraphError | None:
        """The envelope of an HTTP answer, if it carries one."""
        return cls.parse(json_body(response))

    @property
    def label(self) -> str:
        """``"100"`` or ``"100/2207026"``: the code atroposd reports."""
        return f"{self.code}/{self.subcode}" if self.subcode else str(self.code)

    @property
    def words(self) -> str:
        """What Meta says to the user (``error_user_msg``), else its developer message."""
        return self.user_msg or self.message

    def pair(self) -> tuple[int | None, int | None]:
        """``(code, subcode)``."""
        return self.code, self.subcode


def is_auth_error(response: httpx.Response) -> bool:
    """The token was refused: HTTP 401 or Graph code 190/102, whatever the HTTP status."""
    if response.status_code == 401:
        return True
    err = GraphError.of(response)
    return err is not None and err.code in AUTH_CODES


def _transient(err: GraphError | None, status: int) -> bool:
    if status >= 500 or status == 408:
        return True
    if err is None:
        return False
    if err.is_transient or err.subcode in RETRY_SUBCODES or err.pair() == NOT_READY:
        return True
    if err.subcode in VIDEO_RETRY_SUBCODES or err.code == VIDEO_RETRY_CODE:
        return True
    if err.subcode is not None and 2207000 <= err.subcode < 2208000:
        return False  # Instagram's own validation subcodes (e.g. 1/2207057) are final
    return err.code in META_TRANSIENT or err.code in (-1, -2)


def classify(platform: str, response: httpx.Response, step: str, now: datetime) -> ProviderError:
    """Classify a Graph API error answer (see the module docstring)."""
    status = response.status_code
    err = GraphError.of(response)
    label = err.label if err is not None and err.code is not None else str(status)
    words = (err.words if err else "") or response.reason_phrase or "no message"
    kw: dict[str, Any] = {
        "platform": platform,
        "code": label,
        "platform_message": words,
        "status": status,
    }
    text = f"{step}: HTTP {status} ({label}): {words}"
    wait = wait_seconds(response, now)
    code = err.code if err else None
    if code in AUTH_CODES or status == 401:
        return ReauthRequired(f"{text}; log in to {platform} again", **kw)
    if status == 429 or code in META_THROTTLED or code in BUC_CODES:
        return RateLimited(text, retry_after=wait, **kw)
    if err is not None and err.pair() == CAP:
        until = now + (timedelta(seconds=wait) if wait else CAP_FALLBACK)
        return QuotaExhausted(text, retry_at=until, **kw)
    if err is not None and err.subcode == EXPIRED_SUBCODE:
        return SessionLost(text, **kw)
    if _transient(err, status):
        return TransientError(text, retry_after=wait, **kw)
    return PermanentError(text, **kw)
