"""TikTok Content Posting API v2, direct post (FILE_UPLOAD), under ``/tiktok`` (providers.md §5).

=============  ========================================  ========================================
step           request                                   answer
=============  ========================================  ========================================
token          POST /v2/oauth/token/ (form, client_key,  ``refresh_token``: ``sandbox:<account>:…``
               client_secret)                            -> access + a NEW refresh token; the one
                                                         sent stops working (rotation, as TikTok
                                                         documents); ``authorization_code`` with
                                                         ``code=sandbox:<account>`` is a login.
                                                         RFC errors ``{error, error_description,
                                                         log_id}`` (HTTP 400, 401 bad client)
creator_info   POST /v2/post/publish/creator_info/query/ privacy options, interaction switches,
                                                         max duration; 20/min/token; the daily
                                                         cap answers 403 spam_risk_too_many_posts
init           POST /v2/post/publish/video/init/         ``{publish_id, upload_url}``; 6/min/token;
                                                         chunk arithmetic, privacy in the options,
                                                         switches the creator turned off, title
                                                         <= 2200 UTF-16 units, daily cap
chunk          PUT <upload_url> (``tiktok_upload.py``)   206 per chunk, 201 when complete
status         POST /v2/post/publish/status/fetch/       PROCESSING_UPLOAD (uploaded_bytes) ->
                                                         PUBLISH_COMPLETE after processing, or
                                                         FAILED + fail_reason; 30/min/token
=============  ========================================  ========================================

Errors: ``{"data": {}, "error": {"code", "message", "log_id"}}``. A publish whose upload was
dropped (``/_emulator/expire_uploads``) before all its bytes came is forgotten (status/fetch:
400 ``invalid_publish_id``). Control (``/_emulator/tiktok/...``, see ``control``): publishes with
the token that made each, the daily cap, creator settings, a processing failure for the next
completed upload, upload URL expiry. Not emulated: inbox mode, PULL_FROM_URL, photo posts,
cancel, video.list, media checks (duration, codec), unaudited-app restrictions.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from atroposd.emulator.faults import run_step
from atroposd.emulator.platform import Context
from atroposd.emulator.tiktok_control import control
from atroposd.emulator.tiktok_rules import (
    DAILY_CAP,
    DAY_S,
    PLATFORM,
    PRIVACY_LEVELS,
    TITLE_MAX_UTF16,
    URL_TTL_S,
    Creator,
    Publish,
    RateWindows,
    check_chunks,
    error,
    fault_body,
    log_id,
    ok,
    unauthorized,
)
from atroposd.emulator.tiktok_upload import put_chunk
from atroposd.emulator.wire import Request, Response

ACCESS_TTL = 86400  # providers.md §5.1 (newer pages say 2 h; the answer's expires_in rules)
REFRESH_TTL = 31536000
SCOPE = "user.info.basic,video.publish"
_REFRESH = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)
Work = Callable[[], Awaitable[Response]]
_API = "/v2/post/publish"


def _oauth_error(status: int, code: str, description: str) -> Response:
    body = {"error": code, "error_description": description, "log_id": log_id()}
    return Response.json(status, body)


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        doc = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


class TikTok:
    """The emulated TikTok platform."""

    name = PLATFORM
    steps = frozenset({"token", "creator_info", "init", "chunk", "status"})

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self._ctx = ctx
        self._default_processing = processing_seconds
        self.reset()

    def reset(self) -> None:
        """Forget publishes, creator settings, caps, settings and spent refresh tokens."""
        self.processing_seconds = self._default_processing
        self.publishes: dict[str, Publish] = {}
        self.by_upload: dict[str, Publish] = {}
        self.creators: dict[str, Creator] = {}
        self.daily_cap = DAILY_CAP
        self.url_ttl = URL_TTL_S
        self.fail_next: str | None = None
        self._spent: set[str] = set()  # rotated refresh tokens: dead once replaced
        self._rates = RateWindows()

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        step, work = self._route(request, path)
        if work is None:
            return error(404, "not_found", f"No endpoint {request.method} {path}.")
        return await run_step(self._ctx.faults, self.name, step, request, work, fault_body)

    async def control(self, request: Request, path: str) -> Response:
        """``/_emulator/tiktok/<path>``: see ``tiktok_control``."""
        return await control(self, request, path)

    def _route(self, request: Request, path: str) -> tuple[str, Work | None]:
        method = request.method
        if (method, path) == ("POST", "/v2/oauth/token/"):
            return "token", lambda: self._token(request)
        if (method, path) == ("POST", f"{_API}/creator_info/query/"):
            return "creator_info", lambda: self._authed(request, "creator_info", self._creator)
        if (method, path) == ("POST", f"{_API}/video/init/"):
            return "init", lambda: self._authed(request, "init", self._init)
        if (method, path) == ("POST", f"{_API}/status/fetch/"):
            return "status", lambda: self._authed(request, "status", self._status)
        if (method, path) == ("PUT", "/video/"):
            return "chunk", lambda: self._chunk(request)
        return "", None

    # -- auth ---------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not form.get("client_key") or not form.get("client_secret"):
            return _oauth_error(401, "invalid_client", "Client key or secret is missing.")
        tokens = self._ctx.store.tokens
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            account = code.removeprefix("sandbox:").split(":", 1)[0]
            if not code.startswith("sandbox:") or not account:
                return _oauth_error(400, "invalid_grant", "Authorization code is expired.")
        elif grant == "refresh_token":
            refresh = form.get("refresh_token", "")
            match = _REFRESH.fullmatch(refresh)
            if (
                not match
                or refresh in self._spent
                or not tokens.refresh_usable(self.name, match.group(1), refresh)
            ):
                return _oauth_error(400, "invalid_grant", "Refresh token is invalid or expired.")
            account = match.group(1)
            self._spent.add(refresh)  # "the previous refresh token stops working"
        else:
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant {grant!r}.")
        body = {
            "access_token": tokens.issue_access(self.name, account, ACCESS_TTL),
            "expires_in": tokens.lifetime(self.name, ACCESS_TTL),
            "open_id": f"open-{account}",
            "refresh_token": tokens.issue_refresh(self.name, account, f"sandbox:{account}:"),
            "refresh_expires_in": REFRESH_TTL,
            "scope": SCOPE,
            "token_type": "Bearer",
        }
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    async def _authed(
        self, request: Request, step: str, work: Callable[[Request, str, str], Awaitable[Response]]
    ) -> Response:
        scheme, _, token = request.header("authorization", "").partition(" ")
        token = token.strip()
        account = self._ctx.store.tokens.account_for(self.name, token)
        if scheme.lower() != "bearer" or account is None:
            return unauthorized()
        if not self._rates.allow(token, step, self._ctx.store.clock()):
            return error(429, "rate_limit_exceeded", "The API rate limit was exceeded.")
        return await work(request, account, token)

    # -- steps --------------------------------------------------------------------------------

    def expire_upload_urls(self) -> int:
        """Every incomplete publish's upload URL refuses chunks from now on; how many."""
        now = self._ctx.store.clock()
        open_ = [p for p in self.publishes.values() if p.completed_at is None]
        for publish in open_:
            publish.expires_at = min(publish.expires_at, now)
        return len(open_)

    def creator(self, account: str) -> Creator:
        """The account's creator settings (defaults until the control API sets them)."""
        return self.creators.setdefault(account, Creator())

    def _capped(self, account: str) -> Response | None:
        since = self._ctx.store.clock() - DAY_S
        posted = [
            p
            for p in self.publishes.values()
            if p.account == account and p.completed_at is not None and p.completed_at > since
        ]
        if len(posted) < self.daily_cap:
            return None
        message = "The user has reached the daily post cap; try again in 24 hours."
        return error(403, "spam_risk_too_many_posts", message)

    async def _creator(self, request: Request, account: str, token: str) -> Response:
        capped = self._capped(account)
        return capped or ok(self.creator(account).to_data(account))

    def _check_post_info(self, info: Any, account: str) -> Response | None:
        if not isinstance(info, dict):
            return error(400, "invalid_params", "post_info is required.")
        title, privacy = info.get("title", ""), info.get("privacy_level")
        creator = self.creator(account)
        if not isinstance(title, str) or len(title.encode("utf-16-le")) // 2 > TITLE_MAX_UTF16:
            return error(400, "invalid_params", "The title is longer than 2200 characters.")
        if privacy not in PRIVACY_LEVELS:
            return error(400, "invalid_params", "privacy_level is invalid.")
        if privacy not in creator.privacy_level_options:
            message = "The privacy level is not one of the creator's privacy_level_options."
            return error(403, "privacy_level_option_mismatch", message)
        for switch, off in (
            ("disable_comment", creator.comment_disabled),
            ("disable_duet", creator.duet_disabled),
            ("disable_stitch", creator.stitch_disabled),
        ):
            if off and info.get(switch) is not True:
                return error(400, "invalid_params", f"{switch} must be true for this creator.")
        if info.get("brand_content_toggle") is True and privacy == "SELF_ONLY":
            return error(400, "invalid_params", "Branded content cannot be private.")
        return None

    async def _init(self, request: Request, account: str, token: str) -> Response:
        doc = await _json(request)
        if doc is None:
            return error(400, "invalid_params", "The body must be a JSON object.")
        refused = self._check_post_info(doc.get("post_info"), account) or self._capped(account)
        if refused is not None:
            return refused
        source = doc.get("source_info")
        if not isinstance(source, dict) or source.get("source") != "FILE_UPLOAD":
            return error(400, "invalid_params", "source_info.source must be FILE_UPLOAD.")
        size, chunk, total = (
            source.get(k) for k in ("video_size", "chunk_size", "total_chunk_count")
        )
        why = check_chunks(size, chunk, total)
        if why is not None:
            return error(400, "invalid_params", why)
        assert isinstance(size, int) and isinstance(chunk, int) and isinstance(total, int)
        return ok(self._open(request, account, token, doc["post_info"], (size, chunk, total)))

    def _open(
        self,
        request: Request,
        account: str,
        token: str,
        info: dict[str, Any],
        plan: tuple[int, int, int],
    ) -> dict[str, Any]:
        caption = str(info.get("title", ""))
        upload = self._ctx.store.new_upload(self.name, account, caption, plan[0])
        now = self._ctx.store.clock()
        publish = Publish(
            publish_id=f"v_pub_file~v2-1.{secrets.randbelow(10**18):018d}",
            account=account,
            access_token=token,
            upload_id=upload.id,
            upload_token=secrets.token_urlsafe(12),
            size=plan[0],
            chunk_size=plan[1],
            chunks=plan[2],
            caption=caption,
            privacy=str(info["privacy_level"]),
            blob=upload.blob,
            expires_at=now + self.url_ttl,
            created_at=now,
            revoked_before=self._revoked(account),
            post_info=dict(info),
        )
        self.publishes[publish.publish_id] = publish
        self.by_upload[upload.id] = publish
        upload_url = (
            f"{self._ctx.base_url(request)}/{self.name}/video/"
            f"?upload_id={upload.id}&upload_token={publish.upload_token}"
        )
        return {"publish_id": publish.publish_id, "upload_url": upload_url}

    async def _chunk(self, request: Request) -> Response:
        publish = self.by_upload.get(request.query.get("upload_id", ""))
        if publish is None or not self._alive(publish):
            return error(404, "not_found", "The upload does not exist.")
        return await put_chunk(
            request, publish, self._ctx.store, self._ctx.store.clock(), self._complete
        )

    def _revoked(self, account: str) -> bool:
        """The account's grant was revoked (``/_emulator/revoke``) and not given again."""
        return not self._ctx.store.tokens.refresh_usable(self.name, account, "")

    def _alive(self, publish: Publish) -> bool:
        """False once an incomplete upload was dropped (``/_emulator/expire_uploads``)."""
        key = (self.name, publish.upload_id)
        return publish.completed_at is not None or key in self._ctx.store.uploads

    def _complete(self, publish: Publish) -> None:
        """Every byte is in: the video is published (after processing) or fails."""
        publish.completed_at = self._ctx.store.clock()
        upload = self._ctx.store.uploads[(self.name, publish.upload_id)]
        if self._revoked(publish.account) and not publish.revoked_before:
            publish.fail_reason = "auth_removed"  # the creator removed the app meanwhile
        elif self.fail_next is not None:
            publish.fail_reason, self.fail_next = self.fail_next, None
        if publish.fail_reason is not None:
            self._ctx.store.uploads.pop((self.name, publish.upload_id), None)
            return
        post_id = f"7{secrets.randbelow(10**18):018d}"
        publish.post_id = post_id
        # A SELF_ONLY post completes without a public id: listed under its publish_id.
        public = publish.privacy == "PUBLIC_TO_EVERYONE"
        self._ctx.store.finish_upload(
            upload, post_id if public else publish.publish_id, publish.caption
        )

    async def _status(self, request: Request, account: str, token: str) -> Response:
        doc = await _json(request)
        publish = self.publishes.get(str((doc or {}).get("publish_id", "")))
        if publish is None or publish.account != account or not self._alive(publish):
            return error(400, "invalid_publish_id", "The publish_id does not exist.")
        data: dict[str, Any] = {"uploaded_bytes": publish.blob.size, "fail_reason": ""}
        done = publish.completed_at
        if publish.fail_reason is not None:
            data.update(status="FAILED", fail_reason=publish.fail_reason)
        elif done is None or self._ctx.store.clock() - done < self.processing_seconds:
            data.update(status="PROCESSING_UPLOAD")
        else:
            public = publish.privacy == "PUBLIC_TO_EVERYONE"
            ids = [publish.post_id] if public and publish.post_id else []
            data.update(status="PUBLISH_COMPLETE", publicaly_available_post_id=ids)
        return ok(data)
