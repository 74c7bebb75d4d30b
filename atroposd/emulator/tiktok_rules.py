"""TikTok's rules for the emulator: the error envelope, chunk arithmetic, rate windows, the
state of one publish. Pure functions and plain data; ``tiktok.py`` does the HTTP.

Sources: ../shared/providers.md §5 and §8.4 (developers.tiktok.com content-posting-api
reference, media transfer guide, tiktok-api-v2-error-handling).
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from atroposd.emulator.store import Blob
from atroposd.emulator.wire import Response

PLATFORM = "tiktok"
MIB = 1024 * 1024
# Media transfer guide: chunks 5 MB..64 MB, the last up to 128 MB, 1..1000 chunks. "MB" is not
# defined there: the emulator reads it strictly both ways (at least 5 MiB, at most 64 * 10**6),
# like TIKTOK_PLAN, so a client that passes here passes either reading.
MIN_CHUNK = 5 * MIB
MAX_CHUNK = 64 * 10**6
MAX_LAST_CHUNK = 128 * 10**6
MAX_CHUNKS = 1000
TITLE_MAX_UTF16 = 2200
MEDIA_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
# Per user token, per minute (§5.4).
RATE_LIMITS = {"creator_info": 20, "init": 6, "status": 30}
DAILY_CAP = 15  # direct posts per creator per rolling 24 h (§5.4, "~15")
DAY_S = 24 * 3600.0
URL_TTL_S = 3600.0  # upload_url lives one hour
_DEFAULT_CODES = {
    400: "invalid_params",
    401: "access_token_invalid",
    403: "spam_risk_too_many_posts",
    404: "not_found",
    429: "rate_limit_exceeded",
}


def log_id() -> str:
    """A log id like TikTok's (``202210112248442CB9319E1FB30C1073F3``)."""
    return "2026" + secrets.token_hex(15).upper()


def envelope(code: str, message: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """``{"data": {...}, "error": {"code", "message", "log_id"}}``."""
    return {
        "data": data if data is not None else {},
        "error": {"code": code, "message": message, "log_id": log_id()},
    }


def ok(data: dict[str, Any]) -> Response:
    """A successful answer."""
    return Response.json(200, envelope("ok", "", data))


def error(status: int, code: str, message: str) -> Response:
    """An error answer in TikTok's envelope."""
    return Response.json(status, envelope(code, message))


def fault_body(status: int) -> object:
    """Default body of an injected ``status`` fault: what TikTok would plausibly send."""
    code = _DEFAULT_CODES.get(status, "internal_error")
    return envelope(code, f"Injected fault: {code}.")


def unauthorized() -> Response:
    """The 401 for a missing, expired or revoked access token."""
    return error(
        401,
        "access_token_invalid",
        "The access token is invalid or not found in the request.",
    )


def check_chunks(size: object, chunk: object, total: object) -> str | None:
    """Why ``source_info`` breaks the media transfer guide's arithmetic, or None."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (size, chunk, total)):
        return "video_size, chunk_size and total_chunk_count must be integers."
    assert isinstance(size, int) and isinstance(chunk, int) and isinstance(total, int)
    if size <= 0 or chunk <= 0:
        return "video_size and chunk_size must be positive."
    if size < MIN_CHUNK:
        if chunk != size or total != 1:
            return "A video under 5 MB must be one chunk with chunk_size equal to video_size."
        return None
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        return "chunk_size must be between 5 MB and 64 MB."
    if total != size // chunk:
        return f"total_chunk_count must be {size // chunk} (video_size / chunk_size, rounded down)."
    if not 1 <= total <= MAX_CHUNKS:
        return f"total_chunk_count must be between 1 and {MAX_CHUNKS}."
    if size - (total - 1) * chunk > MAX_LAST_CHUNK:
        return "The last chunk must not exceed 128 MB."
    return None


def chunk_range(size: int, chunk: int, total: int, index: int) -> tuple[int, int]:
    """(first, last) byte of chunk ``index``; the last chunk absorbs the remainder."""
    first = index * chunk
    return first, (size - 1 if index == total - 1 else first + chunk - 1)


class RateWindows:
    """Requests per (token, step) in the last 60 s of the store's clock."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def allow(self, token: str, step: str, now: float) -> bool:
        """Count one request; False when it exceeds the step's per-minute limit."""
        limit = RATE_LIMITS.get(step)
        if limit is None:
            return True
        seen = self._seen.setdefault((token, step), deque())
        while seen and seen[0] <= now - 60.0:
            seen.popleft()
        if len(seen) >= limit:
            return False
        seen.append(now)
        return True


@dataclass
class Creator:
    """What creator_info answers for one account (settable via the control API)."""

    privacy_level_options: list[str] = field(
        default_factory=lambda: ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]
    )
    comment_disabled: bool = False
    duet_disabled: bool = False
    stitch_disabled: bool = False
    max_video_post_duration_sec: int = 600

    def to_data(self, account: str) -> dict[str, Any]:
        """The ``data`` object of creator_info."""
        return {
            "creator_avatar_url": f"https://p16.tiktokcdn.example/{account}.jpeg",
            "creator_username": account,
            "creator_nickname": account.title(),
            "privacy_level_options": list(self.privacy_level_options),
            "comment_disabled": self.comment_disabled,
            "duet_disabled": self.duet_disabled,
            "stitch_disabled": self.stitch_disabled,
            "max_video_post_duration_sec": self.max_video_post_duration_sec,
        }


@dataclass
class Publish:
    """One direct post: its upload and, once every byte is in, its outcome."""

    publish_id: str
    account: str
    access_token: str  # the token that made the init: whose post this is
    upload_id: str
    upload_token: str
    size: int
    chunk_size: int
    chunks: int
    caption: str
    privacy: str
    blob: Blob
    expires_at: float  # store clock: the upload URL refuses chunks from then on
    created_at: float
    revoked_before: bool = False  # the account's grant was already revoked at init
    post_info: dict[str, Any] = field(default_factory=dict)  # as init received it
    completed_at: float | None = None
    post_id: str | None = None
    fail_reason: str | None = None
    received: list[int] = field(default_factory=list)  # chunk indexes stored, in order
    resent: list[int] = field(default_factory=list)  # chunks sent again though held

    def to_json(self) -> dict[str, object]:
        """The control API's view (``GET /_emulator/tiktok/publishes``)."""
        return {
            "publish_id": self.publish_id,
            "account": self.account,
            "access_token": self.access_token,
            "post_id": self.post_id,
            "privacy": self.privacy,
            "size": self.size,
            "chunk_size": self.chunk_size,
            "total_chunk_count": self.chunks,
            "uploaded_bytes": self.blob.size,
            "chunks_received": list(self.received),
            "chunks_resent": list(self.resent),
            "fail_reason": self.fail_reason,
            "completed": self.completed_at is not None,
            "post_info": dict(self.post_info),
        }
