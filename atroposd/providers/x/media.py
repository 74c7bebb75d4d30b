"""X's chunked media upload and the lookups ``status`` needs (providers.md §7.2, §7.7).

The handle (``RemoteRef`` kind ``x_media``) holds ``media_id``, ``media_key``, ``size``, the
``segment`` size in bytes, ``segments`` (how many the server confirmed with a 200),
``auth`` (the user context that owns the media), ``finalized`` and, once the post was sent,
``post_sent``. It is saved after ``initialize`` (before the first segment) and after every
confirmed segment, so a resume starts at the first segment not confirmed; a segment whose
answer was lost is sent again with the same ``segment_index`` (X takes that as a retry).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from atroposd.errors import OutcomeUnknown, ProviderError, TransientError
from atroposd.providers._http import file_slice, json_body
from atroposd.providers.base import RemoteRef, UploadRequest
from atroposd.providers.chunks import X_PLAN, Chunk
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart
from atroposd.providers.x.auth import OAUTH1, XAuth
from atroposd.providers.x.errors import NAME, POST_STEP, Limits, classify

MEDIA = "x_media"
CATEGORY = "tweet_video"
PAGE, PAGES = 100, 32  # timeline pages read for a post whose answer was lost (X keeps 3200)
CLOCK_MARGIN = timedelta(hours=1)  # our clock against X's, when reading from a time


@dataclass(frozen=True)
class Answer:
    """A successful answer's ``data`` object."""

    data: dict[str, Any]


class XApi:
    """X's media, post and user endpoints for one provider; every answer's limits noted."""

    def __init__(self, auth: XAuth, api_base: str, limits: Limits, now: Any) -> None:
        self._auth = auth
        self._api = api_base.rstrip("/")
        self.limits = limits
        self._now = now  # () -> datetime
        self._user_ids: dict[str, str] = {}

    async def call(
        self, account: str, mode: str, group: str, method: str, path: str, ok: int = 200, **kw: Any
    ) -> httpx.Response:
        """Send one request unless its window is used up; non-``ok`` answers raise."""
        self.limits.check(account, group, self._now())
        step = f"{method} {path.split('?')[0]}"
        resp = await self._auth.send(account, mode, step, method, self._api + path, **kw)
        self.limits.note(account, group, resp)
        if resp.status_code != ok:
            raise self.error(resp, step, group, mode)
        return resp

    def error(self, resp: httpx.Response, step: str, group: str, mode: str) -> ProviderError:
        """The typed error of a non-success answer."""
        return classify(resp, step, group, self._now(), oauth1=mode == OAUTH1)

    async def initialize(self, request: UploadRequest, mode: str, segment: int) -> RemoteRef:
        """``POST /2/media/upload/initialize`` -> the handle to save before any byte."""
        body = {
            "media_type": request.mime_type,
            "total_bytes": request.size,
            "media_category": CATEGORY,
        }
        resp = await self.call(
            request.account, mode, "init", "POST", "/2/media/upload/initialize", json=body
        )
        data = json_body(resp).get("data") or {}
        if not data.get("id"):
            raise TransientError("initialize: no media id in X's answer", platform=NAME)
        media_id = str(data["id"])
        return RemoteRef(
            MEDIA,
            {
                "media_id": media_id,
                "media_key": str(data.get("media_key") or f"13_{media_id}"),
                "size": str(request.size),
                "segment": str(segment),
                "segments": "0",
                "auth": mode,
            },
        )

    async def append(self, request: UploadRequest, ref: RemoteRef, chunk: Chunk) -> None:
        """``POST /2/media/upload/{id}/append`` of one segment, streamed as multipart."""

        def source() -> Any:
            return file_slice(request.path, chunk.offset, chunk.length, request.identity)

        body = MultipartBody(
            [
                TextPart("segment_index", str(chunk.index)),
                StreamPart("media", chunk.length, source),
            ]
        )
        path = f"/2/media/upload/{ref.data['media_id']}/append"
        await self.call(
            request.account, ref.data["auth"], "append", "POST", path,
            content=body, headers=body.headers,
        )  # fmt: skip

    async def finalize(self, account: str, ref: RemoteRef) -> dict[str, Any]:
        """``POST /2/media/upload/{id}/finalize`` -> its ``data`` (with ``processing_info``)."""
        path = f"/2/media/upload/{ref.data['media_id']}/finalize"
        resp = await self.call(account, ref.data["auth"], "finalize", "POST", path)
        return dict(json_body(resp).get("data") or {})

    async def media_status(self, account: str, ref: RemoteRef) -> dict[str, Any] | None:
        """STATUS of the media: its ``data``, or None when X no longer knows it (expired).

        X documents STATUS for media being processed; before FINALIZE its answer is not
        documented [UNSURE, providers.md §7.2]: without ``processing_info`` the handle's
        confirmed segments tell where the upload stands, and 400/404 mean "not known".
        """
        params = {"command": "STATUS", "media_id": ref.data["media_id"]}
        mode = ref.data["auth"]
        self.limits.check(account, "status", self._now())
        step = "GET /2/media/upload STATUS"
        url = f"{self._api}/2/media/upload"
        resp = await self._auth.send(account, mode, step, "GET", url, params=params)
        self.limits.note(account, "status", resp)
        if resp.status_code in (400, 404):
            return None
        if resp.status_code != 200:
            raise self.error(resp, step, "status", mode)
        return dict(json_body(resp).get("data") or {})

    async def send_post(self, account: str, mode: str, body: dict[str, Any]) -> httpx.Response:
        """``POST /2/tweets``, its answer as it is (a 403 duplicate is the caller's to read)."""
        self.limits.check(account, POST_STEP, self._now())
        url = f"{self._api}/2/tweets"
        resp = await self._auth.send(account, mode, "POST /2/tweets", "POST", url, json=body)
        self.limits.note(account, POST_STEP, resp)
        return resp

    async def user_id(self, account: str, mode: str, known: str | None) -> str:
        """The account's numeric user id: configured, remembered, or ``GET /2/users/me``."""
        if known:
            return known
        if account not in self._user_ids:
            resp = await self.call(account, mode, "me", "GET", "/2/users/me")
            self._user_ids[account] = str((json_body(resp).get("data") or {}).get("id") or "")
        return self._user_ids[account]

    async def find_post(self, account: str, ref: RemoteRef, user: str | None) -> str | None:
        """The id of the account's post carrying this media, if one was made since the post
        went out; None only once every post since then was read.

        The media key alone identifies the post: the media is ours and posted once, while X
        shows the text otherwise than it was sent (NFC, links wrapped in t.co, the video's
        own link added). ``expansions=attachments.media_keys`` puts the keys in each post
        (the name is the same in X's docs and OpenAPI description, unlike the fields
        parameter: ``tweet.fields`` in the docs, ``post.fields`` in OpenAPI 2.167). Pages are
        followed from ``start_time`` (when the post went out, less a margin for clocks).
        """
        mode = ref.data["auth"]
        uid = await self.user_id(account, mode, user)
        since = _since(ref.data.get("post_sent"))
        params = {"max_results": str(PAGE), "expansions": "attachments.media_keys"}
        if since is not None:
            params["start_time"] = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        for _ in range(PAGES):
            resp = await self.call(
                account, mode, "timeline", "GET", f"/2/users/{uid}/tweets", params=params
            )
            body = json_body(resp)
            for post in body.get("data") or []:
                keys = (post.get("attachments") or {}).get("media_keys") or []
                if ref.data["media_key"] in keys:
                    return str(post["id"])
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                return None
            params["pagination_token"] = str(token)
        raise OutcomeUnknown(
            f"more than {PAGE * PAGES} posts of the account since this one was sent: cannot "
            "tell whether it went out; check the account, then `atroposd resolve`",
            platform=NAME,
            code="timeline-too-long",
        )


def _since(sent: str | None) -> datetime | None:
    """When to read the timeline from: the post's sending time less ``CLOCK_MARGIN``."""
    if not sent:
        return None
    when = datetime.fromisoformat(sent)
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return when.astimezone(UTC) - CLOCK_MARGIN


def segments(size: int, segment: int) -> tuple[Chunk, ...]:
    """The file's segments for X's plan (≤ 4 MiB each, ≤ 1000)."""
    return X_PLAN.split(size, segment)


def post_url(post_id: str) -> str:
    """Where a post can be seen without knowing the username."""
    return f"https://x.com/i/web/status/{post_id}"


def stamp(now: datetime) -> str:
    """A timestamp for the handle."""
    return now.isoformat(timespec="seconds")
