"""Instagram containers, published media and the publishing cap (providers.md §3, §8.2).

Pure state over the store's clock: a container is ``IN_PROGRESS`` while its bytes arrive and
for ``processing_seconds`` after the last one, then ``FINISHED`` (or ``ERROR`` with its reason:
scripted, or bytes that are not an MP4/MOV), ``PUBLISHED`` once published, ``EXPIRED`` 24 h
after it was made (or when the control API says so). Publishes are counted per Instagram user
in a rolling window (``quota_total`` posts per ``quota_duration`` seconds, 50 per 86400 unless
set through ``POST /_emulator/instagram/publishing_limit``).
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from atroposd.captions import hashtags, mentions

CONTAINER_TTL = 24 * 3600.0
DEFAULT_QUOTA_TOTAL = 50  # providers.md §3.3: "currently 50"
DEFAULT_QUOTA_DURATION = 86400
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
MAX_MENTIONS = 20
UNSUPPORTED_FORMAT = "Error: Media type is not supported. 2207026"
STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}


def new_id(prefix: int) -> str:
    """A Graph-looking numeric id (17 digits)."""
    return str(prefix * 10**15 + secrets.randbelow(10**15))


def caption_problem(caption: str) -> tuple[str, str] | None:
    """``(title, user message)`` when Instagram would refuse ``caption``."""
    if len(caption) > MAX_CAPTION:
        return "Caption too long", f"The caption can be at most {MAX_CAPTION:,} characters."
    if len(hashtags(caption)) > MAX_HASHTAGS:
        return "Too many hashtags", f"The caption can have at most {MAX_HASHTAGS} hashtags."
    if len(mentions(caption)) > MAX_MENTIONS:
        return "Too many mentions", f"The caption can have at most {MAX_MENTIONS} @mentions."
    return None


def looks_like_video(path: Path) -> bool:
    """An ISO-BMFF file (MP4/MOV) starts with a box whose type is ``ftyp`` (or ``moov``...)."""
    with path.open("rb") as fh:
        head = fh.read(12)
    return len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"wide", b"free", b"mdat")


@dataclass
class Container:
    """One media container."""

    id: str
    ig_user: str
    account: str
    caption: str
    share_to_feed: bool
    thumb_offset: int | None
    created: float
    uploaded_at: float | None = None  # when its last byte arrived
    error: str | None = None  # the ``status`` text of a processing ERROR
    expired: bool = False
    media_id: str | None = None

    def status_code(self, now: float, processing_seconds: float) -> str:
        """Where the container stands at ``now``."""
        if self.media_id is not None:
            return "PUBLISHED"
        if self.expired or now - self.created >= CONTAINER_TTL:
            return "EXPIRED"
        if self.uploaded_at is None or now - self.uploaded_at < processing_seconds:
            return "IN_PROGRESS"
        return "ERROR" if self.error else "FINISHED"

    def status_text(self, code: str) -> str:
        """The free-text ``status`` Instagram sends next to ``status_code``."""
        return self.error or "" if code == "ERROR" else STATUS_TEXT[code]


@dataclass
class Media:
    """One published Reel."""

    id: str
    ig_user: str
    caption: str
    timestamp: datetime
    shortcode: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    def fields(self, wanted: set[str]) -> dict[str, object]:
        """The requested fields (``id`` always)."""
        every: dict[str, object] = {
            "id": self.id,
            "caption": self.caption,
            "media_type": "VIDEO",
            "media_product_type": "REELS",
            "permalink": f"https://www.instagram.com/reel/{self.shortcode}/",
            "shortcode": self.shortcode,
            "timestamp": self.timestamp.strftime("%Y-%m-%dT%H:%M:%S+0000"),
        }
        return {k: v for k, v in every.items() if k == "id" or k in wanted}


@dataclass
class PublishingLimit:
    """The rolling publishing cap of every Instagram user."""

    quota_total: int = DEFAULT_QUOTA_TOTAL
    quota_duration: float = DEFAULT_QUOTA_DURATION
    _published: dict[str, deque[float]] = field(default_factory=dict)

    def usage(self, ig_user: str, now: float) -> int:
        """Posts of ``ig_user`` within the window ending at ``now``."""
        times = self._published.setdefault(ig_user, deque())
        while times and now - times[0] >= self.quota_duration:
            times.popleft()
        return len(times)

    def full(self, ig_user: str, now: float) -> bool:
        """The cap is reached."""
        return self.usage(ig_user, now) >= self.quota_total

    def count(self, ig_user: str, now: float) -> None:
        """One more post."""
        self._published.setdefault(ig_user, deque()).append(now)

    def answer(self, ig_user: str, now: float) -> dict[str, object]:
        """``GET /{ig}/content_publishing_limit?fields=config,quota_usage``."""
        duration = self.quota_duration
        config = {
            "quota_total": self.quota_total,
            "quota_duration": int(duration) if duration == int(duration) else duration,
        }
        return {"data": [{"quota_usage": self.usage(ig_user, now), "config": config}]}


def now_utc() -> datetime:
    """Wall-clock time for media timestamps."""
    return datetime.now(UTC)
