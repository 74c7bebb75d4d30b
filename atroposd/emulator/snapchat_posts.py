"""Snapchat's Spotlights and Stories in the emulator, its error envelope and rate buckets.

A publish checks the media the way Snap does: unknown or 24 h old -> ``MEDIA_EXPIRED``,
still processing -> ``MEDIA_PROCESSING``, processing failed -> its reason, a post of this
media already made -> ``MEDIA_POSTING_ALREADY_IN_PROGRESS`` (Snap's own double-post guard,
providers.md §6.6). A Spotlight needs ``locale`` and a description of at most 160
characters. Published items go to ``/_emulator/posts`` with the decrypted video's size and
SHA-256, the media's name as ``title`` and the description as ``caption``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atroposd.emulator.snapchat_media import Media
from atroposd.emulator.store import Store
from atroposd.emulator.wire import Response

DESCRIPTION_MAX = 160
TTL_VALUES = ("ONE_DAY", "TWO_DAYS", "THREE_DAYS", "ONE_WEEK")
PLURAL = {"spotlight": "spotlights", "story": "stories"}


def envelope_error(status: int, code: str, message: str) -> Response:
    """Snap's error envelope (providers.md §6.5)."""
    body = {
        "request_status": "ERROR",
        "request_id": str(uuid.uuid4()),
        "debug_message": message,
        "display_message": message,
        "error_code": code,
    }
    return Response.json(status, body)


def fault_body(status: int) -> object:
    """What a fault rule without a body answers with: Snap's envelope."""
    codes = {429: "RATE_LIMIT_EXCEEDED", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}
    code = codes.get(status, "INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST")
    return {
        "request_status": "ERROR",
        "request_id": str(uuid.uuid4()),
        "debug_message": f"HTTP {status}",
        "display_message": f"HTTP {status}",
        "error_code": code,
    }


class Bucket:
    """A token bucket: ``rate`` requests per second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens, self._stamp = burst, clock()

    def try_take(self) -> bool:
        """Take one request's room if there is some."""
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


@dataclass(frozen=True)
class Item:
    """One Spotlight or Story of a profile."""

    kind: str
    id: str
    profile: str
    media_id: str
    description: str
    locale: str | None
    created_at: str

    def to_json(self, name_media: bool = True) -> dict[str, object]:
        """The entity in a list answer (``media_id`` only when ``name_media``)."""
        body: dict[str, object] = {"id": self.id, "created_at": self.created_at}
        if name_media:
            body["media_id"] = self.media_id
        if self.kind == "spotlight":
            body |= {"description": self.description, "locale": self.locale, "status": "SUBMITTED"}
        return body


def _spotlight_doc(doc: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The spotlight object and whether it came wrapped as ``{"spotlights": [...]}``."""
    wrapped = doc.get("spotlights")
    if isinstance(wrapped, list) and wrapped and isinstance(wrapped[0], dict):
        return wrapped[0], True
    return doc, False


def media_id_of(doc: Any, kind: str) -> str:
    """The ``media_id`` a publish body names (wrapped or flat)."""
    if not isinstance(doc, dict):
        return ""
    body = _spotlight_doc(doc)[0] if kind == "spotlight" else doc
    return str(body.get("media_id") or "")


class Posts:
    """Every profile's Spotlights and Stories."""

    def __init__(self, store: Store, platform: str) -> None:
        self._store = store
        self._platform = platform
        self._items: list[Item] = []
        self.reset()

    def reset(self) -> None:
        """Forget every item; Snap's unconfirmed behaviours back to their defaults."""
        self._items.clear()
        # Unconfirmed (providers.md §6.2, ADR 0009): whether list items name their media, and
        # whether Snap's guard refuses a media already posted or only one still being posted,
        # and whether a media can still be read once posted.
        # ``POST /_emulator/snapchat/behaviour`` turns either off, to test the other reading.
        self.name_media = True
        self.guard_after_post = True
        self.keep_media = True  # whether a media stays readable once a post was made of it

    def _refuse(self, media: Media | None, now: float, processing: float) -> Response | None:
        if media is None:
            return envelope_error(400, "MEDIA_EXPIRED", "The media does not exist or expired.")
        state = media.status(now, processing)
        if state == "PENDING_UPLOAD":
            return envelope_error(400, "MEDIA_NOT_UPLOADED", "The media was not finalized.")
        if state == "PROCESSING":
            return envelope_error(400, "MEDIA_PROCESSING", "The media is still processing.")
        if state == "FAILED":
            return envelope_error(400, "MEDIA_PROCESSING_FAILED", media.failure or "FAILED")
        if media.posted and self.guard_after_post:
            message = "A post using this media is already in progress."
            return envelope_error(400, "MEDIA_POSTING_ALREADY_IN_PROGRESS", message)
        return None

    def publish(
        self, media: Media | None, doc: Any, kind: str, now: float, processing: float
    ) -> Response:
        """A new Spotlight or Story from a ready media."""
        if not isinstance(doc, dict):
            return envelope_error(400, "INVALID_REQUEST", "The body must be a JSON object.")
        body, wrapped = _spotlight_doc(doc) if kind == "spotlight" else (doc, False)
        if not body.get("media_id"):
            return envelope_error(400, "INVALID_REQUEST", "media_id is required.")
        description, locale = str(body.get("description") or ""), body.get("locale")
        if kind == "spotlight" and not isinstance(locale, str):
            return envelope_error(400, "INVALID_REQUEST", "locale is required for Spotlight.")
        if kind == "spotlight" and len(description) > DESCRIPTION_MAX:
            message = f"description must be at most {DESCRIPTION_MAX} characters."
            return envelope_error(400, "INVALID_DESCRIPTION", message)
        ttl = body.get("customized_ttl")
        if kind == "story" and ttl is not None and ttl not in TTL_VALUES:
            return envelope_error(
                400, "INVALID_REQUEST", f"customized_ttl must be one of {TTL_VALUES}."
            )
        refused = self._refuse(media, now, processing)
        if refused is not None or media is None:
            return refused or envelope_error(400, "MEDIA_EXPIRED", "Expired.")
        item_id = secrets.token_hex(12)
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        text = description if kind == "spotlight" else ""
        self._items.append(
            Item(
                kind, item_id, media.profile, media.id, text, str(locale) if locale else None, stamp
            )
        )
        media.posted.append(item_id)
        self._store.finish_upload(media.upload, item_id, text)
        request_id = str(uuid.uuid4())
        if kind == "story":
            return Response.json(200, {"request_status": "SUCCESS", "request_id": request_id})
        if wrapped:
            entry = {"sub_request_status": "SUCCESS", "spotlight": {"id": item_id}}
            return Response.json(
                200, {"request_status": "SUCCESS", "request_id": request_id, "spotlights": [entry]}
            )
        answer = {"request_status": "SUCCESS", "request_id": request_id, "spotlight_id": item_id}
        return Response.json(200, answer)

    def listing(self, profile: str, kind: str, limit: int) -> Response:
        """The profile's items of ``kind``, newest first."""
        mine = [i for i in reversed(self._items) if i.profile == profile and i.kind == kind]
        entries = [
            {"sub_request_status": "SUCCESS", kind: item.to_json(self.name_media)}
            for item in mine[: max(1, limit)]
        ]
        body = {"request_status": "SUCCESS", "request_id": str(uuid.uuid4()), PLURAL[kind]: entries}
        return Response.json(200, body)
