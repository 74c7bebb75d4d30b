"""A user's timeline as X answers it: ``GET /2/users/{id}/tweets`` (providers.md §7.7).

- Newest first; ``max_results`` 5..100 (default 10); ``start_time`` (RFC 3339) keeps the
  posts made at or after it; ``meta.next_token`` names the next page, asked for with
  ``pagination_token`` (X's paging, developer docs "Pagination").
- ``attachments.media_keys`` with ``expansions=attachments.media_keys`` or with
  ``tweet.fields``/``post.fields`` holding ``attachments``; ``created_at`` with the fields.
- The text as X shows it, not as it was sent: NFC-normalized (X normalizes text to NFC,
  docs "Counting characters"), every URL replaced by a 23-character t.co link, and the
  post's video shown as a t.co link of its own at the end. A client that compares texts
  finds no match here; the media key is what identifies a post.
- Eventual consistency: while ``lag_reads`` is set (``POST /x/_emulator/timeline_lag``),
  a new post is missing from that many timeline answers before it shows.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from twitter_text import extract_urls_with_indices

from atroposd.emulator.wire import Request, Response
from atroposd.emulator.x_common import invalid


@dataclass(frozen=True)
class Tweet:
    """A post as the timeline lists it."""

    id: str
    account: str
    text: str
    media_keys: tuple[str, ...]
    created_at: datetime


@dataclass
class Lag:
    """How many timeline answers a new post is missing from (0: it shows at once)."""

    reads: int = 0
    hidden: dict[str, int] = field(default_factory=dict)  # post id -> answers left out of

    def made(self, post_id: str) -> None:
        """A post was just made."""
        if self.reads > 0:
            self.hidden[post_id] = self.reads

    def shows(self, post_id: str) -> bool:
        """Whether this answer lists the post (counting one answer it was left out of)."""
        left = self.hidden.get(post_id, 0)
        if left <= 0:
            return True
        self.hidden[post_id] = left - 1
        return False


def tco() -> str:
    """A t.co link: 23 characters, as X counts every link."""
    return "https://t.co/" + secrets.token_urlsafe(8)[:10]


def shown_text(tweet: Tweet) -> str:
    """The text X shows for a post: NFC, links wrapped in t.co, the video's link at the end."""
    text = unicodedata.normalize("NFC", tweet.text)
    for url in sorted(extract_urls_with_indices(text), key=lambda u: -u["indices"][0]):
        start, end = url["indices"]
        text = text[:start] + tco() + text[end:]
    return f"{text} {tco()}".strip() if tweet.media_keys else text


def _fields(request: Request) -> set[str]:
    named = request.query.get("post.fields") or request.query.get("tweet.fields") or ""
    return set(named.split(","))


def _since(request: Request) -> datetime | str | None:
    raw = request.query.get("start_time")
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        return "start_time must be an RFC 3339 date-time."
    return when if when.tzinfo is not None else "start_time needs a time zone (Z)."


def listing(request: Request, mine: list[Tweet], lag: Lag) -> Response:
    """One page of ``mine`` (the user's posts, oldest first) as X answers it."""
    raw_max = request.query.get("max_results", "10")
    if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
        return invalid("max_results must be from 5 to 100.", "max_results")
    since = _since(request)
    if isinstance(since, str):
        return invalid(since, "start_time")
    token = request.query.get("pagination_token", "p0")
    if not token.startswith("p") or not token[1:].isdigit():
        return invalid("The pagination_token query parameter value is invalid.", "pagination_token")
    shown = [
        t for t in reversed(mine) if (since is None or t.created_at >= since) and lag.shows(t.id)
    ]
    start, size = int(token[1:]), int(raw_max)
    page = shown[start : start + size]
    fields = _fields(request)
    expand = "attachments.media_keys" in request.query.get("expansions", "").split(",")
    data = [_post(t, expand or "attachments" in fields, "created_at" in fields) for t in page]
    meta: dict[str, Any] = {"result_count": len(data)}
    if start + size < len(shown):
        meta["next_token"] = f"p{start + size}"
    if not data:
        return Response.json(200, {"meta": meta})
    meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
    return Response.json(200, {"data": data, "meta": meta})


def _post(tweet: Tweet, attachments: bool, created: bool) -> dict[str, Any]:
    post: dict[str, Any] = {
        "id": tweet.id,
        "text": shown_text(tweet),
        "edit_history_post_ids": [tweet.id],
    }
    if attachments and tweet.media_keys:
        post["attachments"] = {"media_keys": list(tweet.media_keys)}
    if created:
        stamp = tweet.created_at.isoformat(timespec="milliseconds")
        post["created_at"] = stamp.replace("+00:00", "Z")
    return post
