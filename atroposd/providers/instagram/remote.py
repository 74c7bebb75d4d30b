"""What the provider asks Instagram about: a container, the account's recent media, the cap.

Reads only (providers.md §3.1 step 3, §3.3, §3.5); every answer other than success is
classified by ``providers/meta/errors.py``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from atroposd.clock import Clock
from atroposd.errors import ProviderError, QuotaExhausted
from atroposd.providers._http import json_body
from atroposd.providers.base import RemoteRef
from atroposd.providers.meta import GraphError, MetaTokens, classify

NAME = "instagram"
CAP_RECHECK = timedelta(minutes=15)  # asked again when the window's end is not known
MATCH_SLACK = timedelta(minutes=2)  # clock skew between us and Meta when matching media
FREE_SLACK = timedelta(seconds=30)  # past the window's end: clock skew, second timestamps
RECENT = 50  # recent media read to find a post (the daily cap: more cannot be newer than it)
MISSING_SUBCODE = 33  # "Object with ID ... does not exist"


def caption_digest(caption: str) -> str:
    """What a ref keeps of its caption to recognise the post in the account's media."""
    return hashlib.sha256(caption.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Container:
    """A container's ``status_code`` and free-text ``status`` (None: it does not exist)."""

    code: str | None
    text: str = ""


@dataclass(frozen=True)
class Found:
    """A published media found in the account's recent media."""

    id: str
    permalink: str | None


@dataclass(frozen=True)
class Limit:
    """``content_publishing_limit``: posts counted in the window, the cap, the window."""

    usage: int
    total: int
    duration: float

    @property
    def full(self) -> bool:
        """No post may be published now."""
        return self.usage >= self.total

    def frees(self, now: datetime) -> datetime:
        """When to ask again: the window's length, at most ``CAP_RECHECK``.

        Meta says neither when the oldest counted post leaves the window nor lets us see it
        cheaply, so a capped post is parked for a bounded time and the limit read again.
        """
        return now + min(timedelta(seconds=self.duration), CAP_RECHECK)


def _span(seconds: float) -> str:
    """``24 h``, ``90 min``, ``2 s``."""
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 60 else f"{seconds:.3g} s"


def _timestamp(value: object) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


class Remote:
    """Graph reads for one Instagram provider."""

    def __init__(
        self, http: httpx.AsyncClient, graph: str, tokens: MetaTokens, clock: Clock
    ) -> None:
        self._http = http
        self._graph = graph
        self._tokens = tokens
        self._clock = clock

    def error(self, response: httpx.Response, step: str) -> ProviderError:
        """Classify a Graph answer."""
        return classify(NAME, response, step, self._clock.now())

    async def get(self, account: str, path: str, step: str, **params: str) -> httpx.Response:
        """``GET <graph>/<path>`` with the account's token (re-exchanged once on 190)."""
        url = f"{self._graph}/{path}"
        return await self._tokens.send(
            account,
            step,
            lambda token: self._http.get(
                url, params=params, headers={"Authorization": f"Bearer {token}"}
            ),
        )

    async def container(self, account: str, container_id: str) -> Container:
        """The container's state; ``code=None`` when Instagram does not know it."""
        resp = await self.get(
            account, container_id, "container status", fields="status_code,status"
        )
        if resp.status_code != 200:
            err = GraphError.of(resp)
            if err is not None and err.code == 100 and err.subcode == MISSING_SUBCODE:
                return Container(None)
            raise self.error(resp, "container status")
        body = json_body(resp)
        return Container(str(body.get("status_code") or "") or None, str(body.get("status") or ""))

    async def limit(self, account: str, ig_user: str) -> Limit:
        """The account's publishing cap now."""
        resp = await self.get(
            account,
            f"{ig_user}/content_publishing_limit",
            "content_publishing_limit",
            fields="config,quota_usage",
        )
        if resp.status_code != 200:
            raise self.error(resp, "content_publishing_limit")
        data = json_body(resp).get("data") or [{}]
        entry: dict[str, Any] = data[0] if isinstance(data[0], dict) else {}
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        assert isinstance(config, dict)
        return Limit(
            usage=int(entry.get("quota_usage") or 0),
            total=int(config.get("quota_total") or 50),
            duration=float(config.get("quota_duration") or 86400),
        )

    async def check_cap(self, account: str, ig_user: str) -> Limit:
        """``QuotaExhausted`` until the window frees when the cap is reached; else the limit."""
        limit = await self.limit(account, ig_user)
        if limit.full:
            raise await self.capped(account, ig_user, limit)
        return limit

    async def _frees(self, account: str, ig_user: str, limit: Limit) -> datetime | None:
        """When the oldest Reel in the window leaves it (recent media timestamps); None when
        no media of the window is listed. A Reel made in the app (not counted) or a deleted
        one (counted, not listed) moves the true time; the limit is read again then."""
        now = self._clock.now()
        window = timedelta(seconds=limit.duration)
        try:
            items = await self._recent(account, ig_user, "id,timestamp", 100)
        except ProviderError:
            return None
        stamps = [_timestamp(item.get("timestamp")) for item in items]
        inside = [t for t in stamps if t is not None and t > now - window]
        if not inside:
            return None
        return max(min(inside) + window + FREE_SLACK, now + FREE_SLACK)

    async def capped(self, account: str, ig_user: str, limit: Limit | None) -> QuotaExhausted:
        """The post waits for the window, once, saying until when (providers.md §3.3)."""
        now = self._clock.now()
        frees = await self._frees(account, ig_user, limit) if limit else None
        until = frees or (limit.frees(now) if limit else now + CAP_RECHECK)
        used = f" ({limit.usage}/{limit.total} posts in {_span(limit.duration)})" if limit else ""
        when = f"{until:%Y-%m-%d %H:%M} UTC"
        then = (
            f"waiting until {when}, when the oldest of them leaves the window"
            if frees
            else f"checking again at {when}"
        )
        return QuotaExhausted(
            f"Instagram's publishing limit is reached{used}; {then}",
            platform=NAME,
            code="9/2207042",
            retry_at=until,
        )

    async def _recent(self, account: str, ig_user: str, fields: str, limit: int) -> list[Any]:
        """``GET /{ig}/media``: the account's media, newest first."""
        resp = await self.get(
            account, f"{ig_user}/media", "recent media", fields=fields, limit=str(limit)
        )
        if resp.status_code != 200:
            raise self.error(resp, "recent media")
        data = json_body(resp).get("data")
        return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []

    async def newest(self, account: str, ig_user: str) -> str:
        """The id of the account's newest media ("" when it has none): saved before a publish,
        it marks where media that may be ours begin in the newest-first listing."""
        items = await self._recent(account, ig_user, "id", 1)
        return str(items[0].get("id") or "") if items else ""

    async def find_media(self, account: str, ref: RemoteRef) -> Found | None:
        """The media published from this ref: newer than the account's newest media when the
        publish went out (``before``), with the ref's caption, made after the container."""
        data = ref.data
        items = await self._recent(
            account, data["ig_user"], "id,caption,timestamp,permalink,media_product_type", RECENT
        )
        before = data.get("before")
        ids = [str(item.get("id")) for item in items]
        if before and before in ids:  # only what was published after the publish went out
            items = items[: ids.index(before)]
        made = datetime.fromtimestamp(float(data.get("created", "0")), self._clock.now().tzinfo)
        matches = []
        for item in items:
            when = _timestamp(item.get("timestamp"))
            caption = str(item.get("caption") or "")
            if when is None or when < made - MATCH_SLACK:
                continue
            if data.get("caption") in (caption_digest(caption), caption_digest(caption.strip())):
                matches.append((when, str(item.get("id")), item.get("permalink")))
        if not matches:
            return None
        _, media_id, permalink = min(matches)
        return Found(media_id, str(permalink) if permalink else None)

    async def permalink(self, account: str, media_id: str) -> str | None:
        """The Reel's permalink, or None when Instagram does not say (best effort)."""
        try:
            resp = await self.get(account, media_id, "permalink", fields="permalink")
        except ProviderError:
            return None
        value = json_body(resp).get("permalink") if resp.status_code == 200 else None
        return str(value) if value else None
