"""Snap's Public Profile API calls, one method per request (providers.md §6.2).

Every request waits for room under Snap's request rates (``pace.py``), carries the
account's bearer token (``providers/auth``: one refresh on 401) and is classified at this
edge (``errors.py``). Answers are parsed defensively: implementers report both flat
(``media_id``) and batch-wrapped (``media[0].media.id``) envelopes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from atroposd.clock import Clock
from atroposd.errors import SessionLost
from atroposd.providers._http import json_body
from atroposd.providers.auth import OAuth2Tokens
from atroposd.providers.snapchat.errors import classify, succeeded
from atroposd.providers.snapchat.pace import Pace
from atroposd.providers.streams import MultipartBody, TextPart

LIST_LIMIT = 50  # recent posts looked at when asking whether a media was posted
KINDS = {"spotlight": "spotlights", "story": "stories"}


@dataclass(frozen=True)
class MediaState:
    """``GET .../media/{id}``: PENDING_UPLOAD, PROCESSING, READY or FAILED (+ why)."""

    status: str
    reason: str | None = None


@dataclass(frozen=True)
class Posted:
    """A Spotlight or Story of the profile made from a given media."""

    kind: str  # "spotlight" | "story"
    id: str


@dataclass(frozen=True)
class Found:
    """What the profile's lists say about a media: the post made from it, if listed, and
    whether the lists could tell at all (``blind``: items listed, none naming its media)."""

    posted: Posted | None
    blind: bool = False


def _item(body: dict[str, Any], plural: str, singular: str) -> dict[str, Any]:
    """The object of a flat or batch-wrapped answer (``{plural: [{singular: {...}}]}``)."""
    items = body.get(plural)
    if isinstance(items, list) and items and isinstance(items[0], dict):
        inner = items[0].get(singular, items[0])
        return inner if isinstance(inner, dict) else {}
    inner = body.get(singular)
    return inner if isinstance(inner, dict) else body


def _items(body: dict[str, Any], plural: str, singular: str) -> list[dict[str, Any]]:
    items = body.get(plural)
    if not isinstance(items, list):
        return []
    out = []
    for entry in items:
        if isinstance(entry, dict):
            inner = entry.get(singular, entry)
            out.append(inner if isinstance(inner, dict) else entry)
    return out


class SnapApi:
    """The requests of one Snap API host (``api_base``: production or sandbox)."""

    def __init__(
        self, http: httpx.AsyncClient, api_base: str, auth: OAuth2Tokens, clock: Clock
    ) -> None:
        self._http = http
        self.base = api_base.rstrip("/")
        self._auth = auth
        self._clock = clock
        self._pace = Pace()

    def follow(self, path: str) -> str:
        """A path the server returned, as given: absolute URLs as they are, paths on the
        host they came from (``https://businessapi.snapchat.com<add_path>``); never rebuilt."""
        if path.startswith(("https://", "http://")):
            return path
        return self.base + (path if path.startswith("/") else "/" + path)

    async def send(
        self, account: str, step: str, build: Callable[[dict[str, str]], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """One request with pacing and a bearer token; a failed envelope raises."""

        async def paced(auth: dict[str, str]) -> httpx.Response:
            await self._pace.take(account)
            return await build(auth)

        resp = await self._auth.send(account, step, paced)
        if not succeeded(resp):
            raise classify(resp, step, self._clock.now())
        return resp

    async def my_profile(self, account: str) -> str:
        """The id of the Public Profile the account's token belongs to."""
        url = f"{self.base}/v1/public_profiles/my_profile"
        resp = await self.send(account, "my profile", lambda a: self._http.get(url, headers=a))
        body = json_body(resp)
        found = _item(body, "public_profiles", "public_profile")
        profile = found if found.get("id") else _item(body, "me", "me")
        return str(profile.get("id") or "")

    async def create_media(
        self, account: str, profile: str, name: str, key: dict[str, str]
    ) -> dict[str, str]:
        """``POST .../media``: the media id and the add/finalize paths the server chose."""
        url = f"{self.base}/v1/public_profiles/{profile}/media"
        doc = {"type": "VIDEO", "name": name, "key": key["key"], "iv": key["iv"]}
        resp = await self.send(
            account, "create media", lambda a: self._http.post(url, json=doc, headers=a)
        )
        body = json_body(resp)
        media = _item(body, "media", "media")
        got = {
            "media_id": str(body.get("media_id") or media.get("id") or ""),
            "add_path": str(body.get("add_path") or media.get("add_path") or ""),
            "finalize_path": str(body.get("finalize_path") or media.get("finalize_path") or ""),
        }
        if not all(got.values()):
            raise classify(
                resp, "create media: answer without media_id/add_path", self._clock.now()
            )
        return got

    async def add(self, account: str, path: str, body: MultipartBody, part: int) -> None:
        """``POST <add_path>`` (multipart ``action=ADD``) of one encrypted part."""
        url = self.follow(path)
        await self.send(
            account,
            f"upload part {part}",
            lambda a: self._http.post(url, content=body, headers={**body.headers, **a}),
        )

    async def finalize(self, account: str, path: str) -> None:
        """``POST <finalize_path>`` (multipart ``action=FINALIZE``, no file part)."""
        url = self.follow(path)
        body = MultipartBody([TextPart("action", "FINALIZE")])
        await self.send(
            account,
            "finalize media",
            lambda a: self._http.post(url, content=body, headers={**body.headers, **a}),
        )

    async def media(self, account: str, profile: str, media_id: str) -> MediaState | None:
        """Where a media object stands; None when Snap no longer has it (expired, unknown)."""
        url = f"{self.base}/v1/public_profiles/{profile}/media/{media_id}"
        try:
            resp = await self.send(account, "get media", lambda a: self._http.get(url, headers=a))
        except SessionLost:  # 404 or MEDIA_EXPIRED
            return None
        media = _item(json_body(resp), "media", "media")
        reason = media.get("failure_reason") or media.get("error_message")
        return MediaState(str(media.get("media_status") or ""), str(reason) if reason else None)

    async def publish(self, account: str, profile: str, kind: str, doc: dict[str, Any]) -> str:
        """``POST .../spotlights`` or ``.../stories``: the new item's id, or the request id
        when Snap answers without one (stories, providers.md §6.2)."""
        url = f"{self.base}/v1/public_profiles/{profile}/{KINDS[kind]}"
        resp = await self.send(
            account, f"post {kind}", lambda a: self._http.post(url, json=doc, headers=a)
        )
        body = json_body(resp)
        item = _item(body, KINDS[kind], kind)
        post_id = body.get(f"{kind}_id") or item.get("id")
        return str(post_id) if post_id else ""

    async def find(self, account: str, profile: str, media_id: str, first: str) -> Found:
        """The profile's Spotlight or Story made from ``media_id`` (``first`` listed first).

        Whether list items carry ``media_id`` is not confirmed (ADR 0009): when items are
        listed and none names a media, "not listed" proves nothing and the answer is blind.
        """
        items = named = 0
        for kind in sorted(KINDS, key=lambda k: k != first):
            listed = await self._list(account, f"{self.base}/v1/public_profiles/{profile}", kind)
            for item in listed:
                items, named = items + 1, named + ("media_id" in item)
                if str(item.get("media_id", "")) == media_id and item.get("id"):
                    return Found(Posted(kind, str(item["id"])))
        return Found(None, blind=items > 0 and named == 0)

    async def _list(self, account: str, root: str, kind: str) -> list[dict[str, Any]]:
        url = f"{root}/{KINDS[kind]}"

        def get(auth: dict[str, str]) -> Awaitable[httpx.Response]:
            return self._http.get(url, params={"limit": LIST_LIMIT}, headers=auth)

        resp = await self.send(account, f"list {KINDS[kind]}", get)
        return _items(json_body(resp), KINDS[kind], kind)
