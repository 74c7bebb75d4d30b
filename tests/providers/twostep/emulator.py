"""The test-only two-step platform under ``/twostep``: upload, wait until ready, then publish.

=======  ==============================  ====================================================
step     request                         answer
=======  ==============================  ====================================================
token    POST /oauth/token (form)        ``grant_type=refresh_token``: a refresh token
                                         ``sandbox:<account>:<anything>`` (unless revoked) ->
                                         ``{access_token, token_type: "bearer", expires_in:
                                         3600, refresh_token: <a new, rotated one>}``;
                                         ``authorization_code`` with ``code=sandbox:<account>``
                                         is a new login. Bad or revoked: 400 ``invalid_grant``
create   POST /v1/media (Bearer, JSON    ``{media_id, upload_url}``; empty title -> 400
         ``{size, title}``)              ``invalid_title``
chunk    PUT <upload_url> (Bearer,       ``{offset}``: bytes stored; a chunk starting past
         ``Content-Range: bytes a-b/N``)  them -> 400 ``invalid_range``, overlap ignored;
                                         unknown or expired upload -> 404
status   GET /v1/media/{id} (Bearer)     ``{state, offset, post_id, ...}``; unknown -> 404
publish  POST /v1/media/{id}/publish     ``{post_id}``; not ready -> 409 ``not_ready``. Every
         (Bearer, JSON ``{text}``)       accepted publish is a NEW post, even a second one
=======  ==============================  ====================================================

Errors are ``{"error": {"code", "message"}}`` (OAuth errors: ``{"error": "invalid_grant"}``);
a missing or expired bearer token answers 401 ``invalid_token``. Throttling (429 with
``Retry-After``) and server errors (503) come only from fault rules. After the last byte a
media item is ``processing`` for ``processing_seconds`` (0.2 s), then ``ready``.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from atroposd.emulator.faults import run_step
from atroposd.emulator.platform import Context
from atroposd.emulator.store import PostRecord
from atroposd.emulator.wire import Request, Response
from tests.providers.twostep.media import PLATFORM, Media, error, fault_body, put_chunk

ACCESS_TTL = 3600
TITLE_MAX = 100
TEXT_MAX = 2200
_REFRESH = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)
_MEDIA = re.compile(r"/v1/media/([A-Za-z0-9_-]+)(/publish)?")
_UPLOAD = re.compile(r"/upload/([A-Za-z0-9_-]+)")
Work = Callable[[], Awaitable[Response]]


def _oauth_error(error_code: str, description: str) -> Response:
    return Response.json(400, {"error": error_code, "error_description": description})


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        doc = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


class TwoStep:
    """The emulated two-step platform (mounted by ``tests.support.Emulator``)."""

    name = PLATFORM
    steps = frozenset({"token", "create", "chunk", "status", "publish"})

    def __init__(self, ctx: Context, processing_seconds: float = 0.2) -> None:
        self._ctx = ctx
        self._processing_seconds = processing_seconds
        self._media: dict[str, Media] = {}
        self._by_upload: dict[str, Media] = {}

    def reset(self) -> None:
        """Forget every media item (the server resets posts, tokens and blobs)."""
        self._media.clear()
        self._by_upload.clear()

    async def control(self, request: Request, rest: str) -> Response:
        """``POST /_emulator/twostep/expire``: every unpublished media item is past its life."""
        if (request.method, rest) != ("POST", "/expire"):
            return error(404, "not_found", f"No control {request.method} {rest}.")
        hit = [m for m in self._media.values() if not m.post_ids]
        for media in hit:
            media.expired = True
        return Response.json(200, {"expired": [m.id for m in hit]})

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        step, work = self._route(request, path)
        if work is None:
            return error(404, "not_found", f"No endpoint {request.method} {path}.")
        return await run_step(self._ctx.faults, self.name, step, request, work, fault_body)

    def _route(self, request: Request, path: str) -> tuple[str, Work | None]:
        method = request.method
        if (method, path) == ("POST", "/oauth/token"):
            return "token", lambda: self._token(request)
        if (method, path) == ("POST", "/v1/media"):
            return "create", lambda: self._create(request)
        upload = _UPLOAD.fullmatch(path)
        if upload and method == "PUT":
            return "chunk", lambda: self._chunk(request, upload.group(1))
        media = _MEDIA.fullmatch(path)
        if media and method == "GET" and not media.group(2):
            return "status", lambda: self._status(request, media.group(1))
        if media and method == "POST" and media.group(2):
            return "publish", lambda: self._publish(request, media.group(1))
        return "", None

    # -- auth ---------------------------------------------------------------------------------

    def _account(self, request: Request) -> str | None:
        scheme, _, token = request.header("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._ctx.store.tokens.account_for(self.name, token.strip())

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        tokens = self._ctx.store.tokens
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            account = code.removeprefix("sandbox:").split(":", 1)[0]
            if not code.startswith("sandbox:") or not account:
                return _oauth_error("invalid_grant", "The authorization code is invalid.")
        elif grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            match = _REFRESH.fullmatch(refresh)
            if not match or not tokens.refresh_usable(self.name, match.group(1), refresh):
                return _oauth_error("invalid_grant", "The refresh token is invalid or revoked.")
            account = match.group(1)
        else:
            return _oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")
        body = {
            "access_token": tokens.issue_access(self.name, account, ACCESS_TTL),
            "token_type": "bearer",
            "expires_in": ACCESS_TTL,
            "refresh_token": tokens.issue_refresh(self.name, account, f"sandbox:{account}:"),
        }
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    # -- media --------------------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return _unauthorized()
        doc = await _json(request)
        if doc is None:
            return error(400, "invalid_request", "The body must be a JSON object.")
        size, title = doc.get("size"), doc.get("title")
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            return error(400, "invalid_size", "The size must be a positive integer.")
        if not isinstance(title, str) or not title.strip():
            return error(400, "invalid_title", "The title is empty.")
        if len(title) > TITLE_MAX:
            return error(400, "invalid_title", f"The title is longer than {TITLE_MAX} characters.")
        upload = self._ctx.store.new_upload(self.name, account, title, size)
        media = Media(secrets.token_hex(8), account, title, size, upload.id, upload.blob)
        self._media[media.id] = media
        self._by_upload[upload.id] = media
        upload_url = f"{self._ctx.base_url(request)}/{self.name}/upload/{upload.id}"
        return Response.json(200, {"media_id": media.id, "upload_url": upload_url})

    def _visible(self, media_id: str, account: str) -> Media | None:
        """The account's media item, unless unknown or expired before all its bytes came."""
        media = self._media.get(media_id)
        if media is None or media.account != account:
            return None
        if (
            media.completed_at is None
            and (self.name, media.upload_id) not in self._ctx.store.uploads
        ):
            return None  # /_emulator/expire_uploads dropped it
        return media

    async def _chunk(self, request: Request, upload_id: str) -> Response:
        account = self._account(request)
        if account is None:
            return _unauthorized()
        media = self._by_upload.get(upload_id)
        if media is None or media.expired or self._visible(media.id, account) is None:
            return error(404, "not_found", "The upload does not exist or has expired.")
        upload = self._ctx.store.uploads.get((self.name, upload_id))
        if upload is None:  # completed: put_chunk answers a replay with the stored size
            return Response.json(200, {"offset": media.blob.size})
        return await put_chunk(request, media, upload, self._ctx.store)

    async def _status(self, request: Request, media_id: str) -> Response:
        account = self._account(request)
        if account is None:
            return _unauthorized()
        media = self._visible(media_id, account)
        if media is None:
            return error(404, "not_found", f"No media {media_id}.")
        return Response.json(200, media.to_json(self._ctx.store.clock(), self._processing_seconds))

    async def _publish(self, request: Request, media_id: str) -> Response:
        account = self._account(request)
        if account is None:
            return _unauthorized()
        media = self._visible(media_id, account)
        if media is None:
            return error(404, "not_found", f"No media {media_id}.")
        doc = await _json(request)
        text = doc.get("text") if doc is not None else None
        if not isinstance(text, str):
            return error(400, "invalid_request", "The body must be a JSON object with 'text'.")
        if len(text) > TEXT_MAX:
            return error(400, "invalid_text", f"The text is longer than {TEXT_MAX} characters.")
        state = media.state(self._ctx.store.clock(), self._processing_seconds)
        if state == "expired":
            return error(400, "expired", "The media expired before it was published.")
        if state not in ("ready", "published"):  # published again: a second post, on purpose
            return error(409, "not_ready", f"The media is not ready to publish ({state}).")
        post_id = secrets.token_hex(8)
        media.post_ids.append(post_id)
        self._ctx.store.posts.append(
            PostRecord(
                platform=self.name,
                id=post_id,
                account=account,
                title=media.title,
                caption=text,
                bytes=media.blob.size,
                sha256=media.blob.hexdigest(),
                created_at=datetime.now(UTC),
            )
        )
        return Response.json(200, {"post_id": post_id})


def _unauthorized() -> Response:
    message = "The access token is missing, invalid or expired."
    return error(401, "invalid_token", message)
