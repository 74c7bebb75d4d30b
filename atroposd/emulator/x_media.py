"""X's chunked media upload and posts for the emulator (providers.md §7.2, §7.3, §8.6).

Media: ``initialize`` (JSON: ``media_type``, ``total_bytes``, ``media_category``; validated
against the enums of X's OpenAPI description) -> ``{data: {id, media_key: "13_<id>",
expires_after_secs}}``; ``append`` (multipart ``segment_index`` 0..999 + ``media``) stores
segments in order: a segment already stored is answered 200 again without storing it twice
(idempotent per index), one past the next expected index is 400 (the emulator is stricter
than X here: clients send segments in order); ``finalize``: the segments must add up to
``total_bytes`` (else 400), then ``processing_info {state: pending, check_after_secs: 1}``;
``STATUS`` (``GET /2/media/upload?command=STATUS&media_id=``): ``pending`` ->
``in_progress`` (``progress_percent``) -> ``succeeded`` after ``processing_seconds``
(``check_after_secs``: the whole seconds left); before
``finalize`` it answers the media without ``processing_info`` [UNSURE: X's answer to STATUS
before FINALIZE is undocumented]. Unknown or expired media: 404 ``resource-not-found``.

Posts: ``POST /2/tweets`` (JSON ``{text, media: {media_ids}}``): the text's weighted length
(twitter-text) at most 280, at most one video, every media id the poster's own, finalized,
``succeeded`` and unexpired (else 400 ``invalid-request``); the same text again from the same
user within 24 h: 403 duplicate content; else 201 ``{data: {id, text,
edit_history_post_ids}}`` and a post in ``/_emulator/posts`` (every accepted call is a new
post). ``GET /2/users/me``, ``GET /2/users/{id}/tweets`` (newest first, ``attachments``
with ``post.fields``/``tweet.fields=attachments``) for reconciliation.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from twitter_text import parse_tweet

from atroposd.emulator.store import PostRecord, Store, Upload
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.x_common import DAY, DUPLICATE, invalid, not_found, problem, user_id
from atroposd.emulator.x_timeline import Lag, Tweet, listing

PLATFORM = "x"
MEDIA_TYPES = frozenset(
    {
        "video/mp4", "video/webm", "video/mp2t", "video/quicktime", "text/srt", "text/vtt",
        "image/jpeg", "image/gif", "image/bmp", "image/png", "image/webp", "image/pjpeg",
        "image/tiff", "model/gltf-binary", "model/vnd.usdz+zip",
    }
)  # fmt: skip
CATEGORIES = frozenset(
    {"amplify_video", "tweet_gif", "tweet_image", "tweet_video", "dm_gif", "dm_image",
     "dm_video", "subtitles"}
)  # fmt: skip
MAX_TOTAL = 17_179_869_184
MAX_SEGMENT = 5 * 1024 * 1024  # legacy v1.1 cap, still the safe reading for v2
EXPIRES_AFTER = (
    86_399  # seconds a media id lives (X's example after INIT: 1295999; FINALIZE: 86400)
)
TEXT_LIMIT = 280


@dataclass
class Media:
    """One media upload: its store session, its segments, its processing."""

    id: str
    account: str
    upload: Upload
    total: int
    category: str
    segments: list[int] = field(default_factory=list)  # stored sizes, index order
    finalized_at: float | None = None
    created: float = field(default_factory=time.time)
    posted: bool = False
    fail: dict[str, Any] | None = None
    received: dict[int, int] = field(default_factory=dict)  # segment index -> appends seen

    def to_json(self) -> dict[str, object]:
        """The emulator's own view (``GET /x/_emulator/media``)."""
        return {
            "id": self.id,
            "account": self.account,
            "total": self.total,
            "segments": list(self.segments),
            "received": {str(k): v for k, v in sorted(self.received.items())},
            "finalized": self.finalized_at is not None,
            "posted": self.posted,
        }

    @property
    def key(self) -> str:
        """X's media key: ``13_`` for videos, ``3_`` for images, ``16_`` for GIFs."""
        prefix = "13" if "video" in self.category else "16" if "gif" in self.category else "3"
        return f"{prefix}_{self.id}"

    def expires_at(self) -> int:
        """Unix seconds when the media id stops working."""
        return int((self.finalized_at or self.created) + EXPIRES_AFTER)


def new_id() -> str:
    """A 19-digit snowflake-like id."""
    return str(1_800_000_000_000_000_000 + secrets.randbelow(10**17))


async def json_object(request: Request) -> dict[str, Any] | None:
    """The request's JSON object body, or None."""
    try:
        doc = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes] | None:
    """Form fields of a multipart/form-data body, read with the stdlib MIME parser."""
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        return None
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class XMedia:
    """Media sessions, posts and timelines of the emulated X."""

    def __init__(self, store: Store, processing_seconds: float) -> None:
        self._store = store
        self._processing = processing_seconds
        self.media: dict[str, Media] = {}
        self.tweets: list[Tweet] = []
        self.long_posts: dict[str, int] = {}  # account -> its weighted limit (X Premium)
        self.lag = Lag()  # timeline answers a new post is missing from (eventual consistency)

    def reset(self) -> None:
        """Forget media and posts."""
        self.media.clear()
        self.tweets.clear()
        self.long_posts.clear()
        self.lag = Lag()

    def other_posts(self, account: str, count: int) -> None:
        """``count`` text posts the user made elsewhere (the X app): timeline only."""
        for n in range(count):
            self.tweets.append(Tweet(new_id(), account, f"posted elsewhere {n}", (), _utcnow()))

    def _live(self, media_id: str, account: str) -> Media | None:
        media = self.media.get(media_id)
        if media is None or media.account != account or time.time() >= media.expires_at():
            return None
        stored = (PLATFORM, media.upload.id) in self._store.uploads
        return media if stored or media.posted else None

    def _gone(self, media_id: str) -> Response:
        return not_found(f"Could not find media with id: [{media_id}].", "media", media_id)

    async def initialize(self, request: Request, account: str) -> Response:
        """``POST /2/media/upload/initialize``."""
        doc = await json_object(request)
        if doc is None:
            return invalid("The request body must be a JSON object.")
        unknown = set(doc) - {
            "media_type",
            "total_bytes",
            "media_category",
            "additional_owners",
            "shared",
        }
        if unknown:
            return invalid(f"Unknown fields: {sorted(unknown)}.")
        media_type, category, total = (
            doc.get("media_type"),
            doc.get("media_category"),
            doc.get("total_bytes"),
        )
        if media_type not in MEDIA_TYPES:
            return invalid(f"Unsupported media_type {media_type!r}.", "media_type")
        if category not in CATEGORIES:
            return invalid(f"Unsupported media_category {category!r}.", "media_category")
        if type(total) is not int or not 0 < total <= MAX_TOTAL:
            return invalid("total_bytes must be an integer from 1 to 17179869184.", "total_bytes")
        upload = self._store.new_upload(PLATFORM, account, "", total)
        media = Media(new_id(), account, upload, total, str(category))
        self.media[media.id] = media
        body = {"id": media.id, "media_key": media.key, "expires_after_secs": EXPIRES_AFTER}
        return Response.json(200, {"data": body})

    async def append(self, request: Request, account: str, media_id: str) -> Response:
        """``POST /2/media/upload/{id}/append``."""
        media = self._live(media_id, account)
        if media is None or media.finalized_at is not None:
            await request.discard()
            return self._gone(media_id) if media is None else invalid("Media is already finalized.")
        fields = parse_multipart(
            request.header("content-type", ""), await request.body(MAX_SEGMENT + 65536)
        )
        raw_index = (fields or {}).get("segment_index", b"")
        chunk = (fields or {}).get("media")
        if fields is None or chunk is None or not raw_index.isdigit() or int(raw_index) > 999:
            return invalid("segment_index (0-999) and media are required.", "segment_index")
        index = int(raw_index)
        media.received[index] = media.received.get(index, 0) + 1
        if len(chunk) > MAX_SEGMENT:
            return problem(413, "Payload Too Large", "Segment larger than 5 MB.")
        async with media.upload.lock:
            if index > len(media.segments):
                return invalid(
                    f"segment_index {index} skips segment {len(media.segments)}.", "segment_index"
                )
            if index == len(media.segments):
                await media.upload.blob.append(_one(chunk))
                media.segments.append(len(chunk))
        return Response.json(200, {"data": {"expires_at": media.expires_at()}})

    async def finalize(self, account: str, media_id: str) -> Response:
        """``POST /2/media/upload/{id}/finalize``."""
        media = self._live(media_id, account)
        if media is None:
            return self._gone(media_id)
        if media.finalized_at is None:
            stored = sum(media.segments)
            if stored != media.total:
                return invalid(f"File size {stored} does not match total_bytes {media.total}.")
            media.finalized_at = time.time()
        return Response.json(200, {"data": self._data(media)})

    def status(self, request: Request, account: str) -> Response:
        """``GET /2/media/upload?command=STATUS&media_id=``."""
        media_id = request.query.get("media_id", "")
        if request.query.get("command", "STATUS") != "STATUS" or not media_id.isdigit():
            return invalid("command=STATUS and a numeric media_id are required.", "media_id")
        media = self._live(media_id, account)
        if media is None:
            return self._gone(media_id)
        return Response.json(200, {"data": self._data(media)})

    def _data(self, media: Media) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": media.id,
            "media_key": media.key,
            "expires_after_secs": max(0, media.expires_at() - int(time.time())),
        }
        if media.finalized_at is None:
            return data
        data["size"] = media.total
        data["processing_info"] = self._processing_info(media)
        return data

    def _processing_info(self, media: Media) -> dict[str, Any]:
        if media.fail is not None:
            return {"state": "failed", "progress_percent": 100, "error": media.fail}
        assert media.finalized_at is not None
        elapsed = time.time() - media.finalized_at
        if elapsed >= self._processing:
            return {"state": "succeeded", "progress_percent": 100}
        percent = int(100 * elapsed / self._processing) if self._processing else 0
        state = "in_progress" if percent else "pending"
        # Whole seconds until it should be done, rounded down: 0 ("ask again now") when the
        # emulator processes in under a second, so tests do not wait a second per post.
        wait = int(self._processing - elapsed)
        return {"state": state, "check_after_secs": wait, "progress_percent": percent}

    def succeeded(self, media: Media) -> bool:
        """True once processing finished without error."""
        return (
            media.finalized_at is not None and self._processing_info(media)["state"] == "succeeded"
        )

    async def create_tweet(self, request: Request, account: str) -> Response:
        """``POST /2/tweets``: validate, then a new post on every accepted call."""
        doc = await json_object(request)
        if doc is None:
            return invalid("The request body must be a JSON object.")
        text = doc.get("text", "")
        media_ids = (doc.get("media") or {}).get("media_ids") or []
        if not isinstance(text, str) or not isinstance(media_ids, list):
            return invalid("text must be a string and media.media_ids a list.")
        weighted = int(parse_tweet(text).weightedLength)
        limit = self.long_posts.get(account, TEXT_LIMIT)
        if weighted > limit:
            return invalid(f"Tweet text is too long: weighted length {weighted} > {limit}.", "text")
        if not text and not media_ids:
            return invalid("A post needs text or media.", "text")
        found = [self._live(str(m), account) for m in media_ids]
        if len(found) > 1 or any(m is None or not self.succeeded(m) for m in found):
            return invalid("Your media IDs are invalid.", "media.media_ids")
        now = datetime.now(UTC)
        if any(
            t.account == account and t.text == text and (now - t.created_at).total_seconds() < DAY
            for t in self.tweets
        ):
            return problem(403, "Forbidden", DUPLICATE)
        tweet_id = new_id()
        media = [m for m in found if m is not None]
        self.tweets.append(Tweet(tweet_id, account, text, tuple(m.key for m in media), now))
        self.lag.made(tweet_id)
        self._record(tweet_id, account, text, media)
        body = {"id": tweet_id, "text": text, "edit_history_post_ids": [tweet_id]}
        return Response.json(201, {"data": body})

    def _record(self, tweet_id: str, account: str, text: str, media: list[Media]) -> None:
        if media:
            media[0].posted = True
            self._store.finish_upload(media[0].upload, tweet_id, text)
            return
        record = PostRecord(PLATFORM, tweet_id, account, "", text, 0, "", datetime.now(UTC))
        self._store.posts.append(record)

    def me(self, account: str) -> Response:
        """``GET /2/users/me``."""
        return Response.json(
            200, {"data": {"id": user_id(account), "name": account, "username": account}}
        )

    def timeline(self, request: Request, account: str, wanted: str) -> Response:
        """``GET /2/users/{id}/tweets``: the user's posts as X lists them (x_timeline)."""
        if not wanted.isdigit():
            return invalid("The id query parameter is invalid.", "id")
        owner = next((t.account for t in self.tweets if user_id(t.account) == wanted), None)
        return listing(request, [t for t in self.tweets if t.account == owner], self.lag)


def _utcnow() -> datetime:
    return datetime.now(UTC)
