"""Snapchat's Public Profile API under ``/snapchat`` (providers.md §6, §8.5).

=========  ===========================================  =====================================
step       request                                      answer
=========  ===========================================  =====================================
token      POST /login/oauth2/access_token (form)       refresh (``sandbox:<account>:...``;
                                                        ``...:rotate...`` rotates and dies once
                                                        used) or ``authorization_code``
                                                        (``code=sandbox:<account>``); 3600 s
profile    GET /v1/public_profiles/my_profile           the account's own (stand-in) profile
create     POST /v1/public_profiles/{pid}/media         ``type``, ``name``, base64 ``key`` (32
                                                        bytes) and ``iv`` (16) -> ``media_id``,
                                                        ``add_path``, ``finalize_path``
                                                        (relative, with a server token)
add        POST {add_path} multipart ``action=ADD``,    stores the encrypted part
           ``part_number``, ``file``                    (snapchat_media.py)
finalize   POST {finalize_path} ``action=FINALIZE``     decrypts, checks ``ftyp``; processing
status     GET /v1/public_profiles/{pid}/media/{mid}    ``media_status`` PENDING_UPLOAD,
                                                        PROCESSING, READY, FAILED (+reason)
publish    POST .../spotlights (``media_id``,           ``spotlight_id``; ``{"spotlights":
           ``locale``, ``description`` <= 160) or       [...]}`` wrapper accepted. Stories
           POST .../stories (``media_id``)              answer ``request_id`` only. Second
                                                        post of a media ->
                                                        MEDIA_POSTING_ALREADY_IN_PROGRESS
list       GET .../spotlights | .../stories?limit=N     the profile's posts, newest first,
                                                        each with its ``media_id``
=========  ===========================================  =====================================

Errors are Snap's envelope ``{"request_status": "ERROR", "request_id", "debug_message",
"display_message", "error_code"}``. More than 10 requests/s per access token or 20/s for
the app (token buckets, Snap's averages) -> 429 without any wait header. A profile id is
bound to the first account that uses it; another account gets 403. ``GET
/snapchat/_emulator/media`` (not a Snap endpoint) lists media with the parts held and how
often each part was stored. Not emulated: duration/resolution limits, Saved Stories, the
Spotlight review turning an item LIVE or REJECTED.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from atroposd.emulator.faults import run_step
from atroposd.emulator.platform import Context
from atroposd.emulator.snapchat_media import (
    MEDIA_TTL,
    PART_MAX,
    Media,
    MediaError,
    add_part,
    finalize,
    form_fields,
)
from atroposd.emulator.snapchat_posts import (
    Bucket,
    Posts,
    envelope_error,
    fault_body,
    media_id_of,
)
from atroposd.emulator.wire import Request, Response

ACCESS_TTL = 3600
_REFRESH = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)
_PROFILE = re.compile(r"/v1/public_profiles/([A-Za-z0-9-]+)(/.*)?")
_UPLOAD = re.compile(
    r"/us/v1/public_profiles/([A-Za-z0-9-]+)/media/([A-Za-z0-9-]+)/multipart-upload-v2"
)
Work = Callable[[], Awaitable[Response]]


def sandbox_profile(account: str) -> str:
    """The stand-in Public Profile id of a sandbox account."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"atroposd-sandbox:snapchat:{account}"))


class Snapchat:
    """The emulated Snapchat platform."""

    name = "snapchat"
    steps = frozenset(
        {"token", "profile", "create", "add", "finalize", "status", "publish", "list"}
    )

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self._ctx = ctx
        self._processing = processing_seconds
        self._media: dict[str, Media] = {}
        self._owners: dict[str, str] = {}  # profile id -> account
        self._spent: set[str] = set()  # rotated refresh tokens, dead once used
        self._refill = (10.0, 20.0)  # requests/s per token, per app (Snap's averages)
        self._app = Bucket(20.0, 20.0, ctx.store.clock)
        self._tokens: dict[str, Bucket] = {}
        self.posts = Posts(ctx.store, self.name)

    def reset(self) -> None:
        """Forget media, profiles, posts and rate counters."""
        self._media.clear()
        self._owners.clear()
        self._spent.clear()
        self._tokens.clear()
        self._refill = (10.0, 20.0)
        self._app = Bucket(20.0, 20.0, self._ctx.store.clock)
        self.posts.reset()

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        if (request.method, path) == ("GET", "/_emulator/media"):
            now = self._ctx.store.clock()
            listing = [m.introspect(now, self._processing) for m in self._media.values()]
            return Response.json(200, listing)
        step, work = self._route(request, path)
        if work is None:
            return envelope_error(404, "NOT_FOUND", f"No endpoint {request.method} {path}.")
        if step not in ("token",):
            work = self._limited(request, work)
        return await run_step(self._ctx.faults, self.name, step, request, work, fault_body)

    async def control(self, request: Request, path: str) -> Response:
        """``POST /_emulator/snapchat/behaviour {"lists_name_media"?, "guard_after_post"?,
        "keep_media"?}``: the readings of Snap's unconfirmed behaviours (all true by default,
        and after a reset). ``POST /_emulator/snapchat/expire_media``: every media not posted
        is 24 h old (Snap's media life)."""
        key = (request.method, path.rstrip("/"))
        if key == ("POST", "/expire_media"):  # the 24 h pass for every media not posted
            hit = [m for m in self._media.values() if not m.posted]
            for media in hit:
                media.created -= MEDIA_TTL
            return Response.json(200, {"expired": [m.id for m in hit]})
        if key not in (("POST", "/behaviour"), ("POST", "/refill")):
            return Response.json(404, {"error": f"no control endpoint {request.method} {path}"})
        try:
            doc = json.loads(await request.body() or b"{}")
        except ValueError:
            doc = None
        if key[1] == "/refill":
            return self._set_refill(doc)
        known = {"lists_name_media", "guard_after_post", "keep_media"}
        if not isinstance(doc, dict) or set(doc) - known:
            return Response.json(400, {"error": f"a JSON object with booleans {sorted(known)}"})
        if not all(isinstance(value, bool) for value in doc.values()):
            return Response.json(400, {"error": "values must be true or false"})
        self.posts.name_media = doc.get("lists_name_media", self.posts.name_media)
        self.posts.guard_after_post = doc.get("guard_after_post", self.posts.guard_after_post)
        self.posts.keep_media = doc.get("keep_media", self.posts.keep_media)
        state = {"lists_name_media": self.posts.name_media, "keep_media": self.posts.keep_media}
        return Response.json(200, state | {"guard_after_post": self.posts.guard_after_post})

    def _set_refill(self, doc: Any) -> Response:
        """``POST /_emulator/snapchat/refill {"per_token", "per_app"}``: how fast the rate
        buckets refill (bursts stay Snap's 10 and 20), e.g. slowly, so a test of the limit
        does not depend on how fast the machine sends its requests."""
        got = [doc.get(k) if isinstance(doc, dict) else None for k in ("per_token", "per_app")]
        rates = [float(r) for r in got if isinstance(r, int | float) and r > 0]
        if len(rates) != 2:
            return Response.json(400, {"error": "per_token and per_app: requests per second > 0"})
        self._refill = (rates[0], rates[1])
        self._tokens.clear()
        self._app = Bucket(self._refill[1], 20.0, self._ctx.store.clock)
        return Response.json(200, {"per_token": self._refill[0], "per_app": self._refill[1]})

    def _limited(self, request: Request, work: Work) -> Work:
        async def paced() -> Response:
            token = request.header("authorization", "").removeprefix("Bearer ").strip()
            fresh = Bucket(self._refill[0], 10.0, self._ctx.store.clock)
            bucket = self._tokens.setdefault(token, fresh)
            if not (bucket.try_take() and self._app.try_take()):
                message = "Too many requests: 10/s per access token, 20/s per app."
                return envelope_error(429, "RATE_LIMIT_EXCEEDED", message)
            return await work()

        return paced

    def _route(self, request: Request, path: str) -> tuple[str, Work | None]:
        method = request.method
        if (method, path) == ("POST", "/login/oauth2/access_token"):
            return "token", lambda: self._token(request)
        if (method, path) == ("GET", "/v1/public_profiles/my_profile"):
            return "profile", lambda: self._my_profile(request)
        upload = _UPLOAD.fullmatch(path)
        if upload and method == "POST":
            action = request.query.get("action", "")
            step = "finalize" if action == "FINALIZE" else "add"
            return step, lambda: self._multipart(request, upload.group(1), upload.group(2), action)
        match = _PROFILE.fullmatch(path)
        if match is None:
            return "", None
        pid, rest = match.group(1), match.group(2) or ""
        if (method, rest) == ("POST", "/media"):
            return "create", lambda: self._create(request, pid)
        if method == "GET" and rest.startswith("/media/"):
            return "status", lambda: self._get_media(request, pid, rest.removeprefix("/media/"))
        if rest in ("/spotlights", "/stories"):
            kind = "spotlight" if rest == "/spotlights" else "story"
            if method == "POST":
                return "publish", lambda: self._publish(request, pid, kind)
            if method == "GET":
                return "list", lambda: self._list(request, pid, kind)
        return "", None

    # -- auth -------------------------------------------------------------------------------

    def _account(self, request: Request) -> str | None:
        raw = request.header("authorization", "").strip()
        token = raw[7:].strip() if raw.lower().startswith("bearer ") else raw
        if not token:
            return None
        return self._ctx.store.tokens.account_for(self.name, token)

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not form.get("client_id") or not form.get("client_secret"):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        tokens, grant = self._ctx.store.tokens, form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            account = code.removeprefix("sandbox:").split(":", 1)[0]
            if not code.startswith("sandbox:") or not account:
                return _oauth_error(400, "invalid_grant", "Invalid authorization code.")
            return self._grant(
                account, tokens.issue_refresh(self.name, account, f"sandbox:{account}:")
            )
        if grant != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant {grant!r}.")
        refresh = form.get("refresh_token", "")
        match = _REFRESH.fullmatch(refresh)
        if (
            not match
            or refresh in self._spent
            or not tokens.refresh_usable(self.name, match.group(1), refresh)
        ):
            return _oauth_error(400, "invalid_grant", "Invalid refresh token.")
        account = match.group(1)
        if refresh.startswith(f"sandbox:{account}:rotate"):
            self._spent.add(refresh)
            return self._grant(account, f"sandbox:{account}:rotate:{secrets.token_urlsafe(16)}")
        return self._grant(account, refresh)

    def _grant(self, account: str, refresh: str) -> Response:
        body = {
            "access_token": self._ctx.store.tokens.issue_access(self.name, account, ACCESS_TTL),
            "token_type": "Bearer",
            "expires_in": self._ctx.store.tokens.lifetime(self.name, ACCESS_TTL),
            "refresh_token": refresh,
            "scope": "snapchat-profile-api",
        }
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    def _owner(self, request: Request, pid: str) -> tuple[str | None, Response | None]:
        """The account, if its token is valid and the profile is its own."""
        account = self._account(request)
        if account is None:
            return None, envelope_error(401, "UNAUTHORIZED", "Invalid or expired access token.")
        if self._owners.setdefault(pid, account) != account:
            return None, envelope_error(403, "FORBIDDEN", "No access to this public profile.")
        return account, None

    async def _my_profile(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return envelope_error(401, "UNAUTHORIZED", "Invalid or expired access token.")
        pid = sandbox_profile(account)
        self._owners.setdefault(pid, account)
        profile = {"id": pid, "display_name": account, "snap_user_name": f"sandbox_{account}"}
        item = {"sub_request_status": "SUCCESS", "public_profile": profile}
        return _success({"public_profiles": [item]})

    # -- media ------------------------------------------------------------------------------

    async def _create(self, request: Request, pid: str) -> Response:
        account, denied = self._owner(request, pid)
        if account is None:
            return denied or envelope_error(401, "UNAUTHORIZED", "Unauthorized.")
        try:
            doc = json.loads(await request.body())
            key = base64.b64decode(str(doc["key"]), validate=True)
            iv = base64.b64decode(str(doc["iv"]), validate=True)
            kind, name = doc["type"], doc["name"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            message = "type, name and base64 key and iv are required."
            return envelope_error(400, "INVALID_REQUEST", message)
        if kind != "VIDEO" or not isinstance(name, str) or not name.strip():
            return envelope_error(
                400, "INVALID_REQUEST", "type must be VIDEO and name is required."
            )
        if len(key) != 32 or len(iv) != 16:
            return envelope_error(400, "INVALID_REQUEST", "key must be 32 bytes and iv 16 bytes.")
        store = self._ctx.store
        upload = store.new_upload(self.name, account, name, None)
        media_id = str(uuid.uuid4())
        folder = store.storage_dir / self.name / media_id
        token = secrets.token_urlsafe(12)
        media = Media(media_id, pid, account, name, key, iv, upload, token, store.clock(), folder)
        self._media[media_id] = media
        base = f"/us/v1/public_profiles/{pid}/media/{media_id}/multipart-upload-v2"
        return _success(
            {
                "media_id": media_id,
                "add_path": f"{base}?action=ADD&upload_id={token}",
                "finalize_path": f"{base}?action=FINALIZE&upload_id={token}",
            }
        )

    def _find(self, pid: str, media_id: str) -> Media | None:
        """A live media of the profile (not dropped by ``expire_uploads``, not 24 h old)."""
        media = self._media.get(media_id)
        if media is None or media.profile != pid or media.expired(self._ctx.store.clock()):
            return None
        if media.posted and not self.posts.keep_media:  # consumed by its post
            return None
        pending = (self.name, media.upload.id) in self._ctx.store.uploads
        return media if pending or media.finalized_at is not None else None

    async def _multipart(self, request: Request, pid: str, media_id: str, action: str) -> Response:
        account, denied = self._owner(request, pid)
        if account is None:
            return denied or envelope_error(401, "UNAUTHORIZED", "Unauthorized.")
        media = self._find(pid, media_id)
        if media is None or request.query.get("upload_id") != media.upload_token:
            return envelope_error(404, "NOT_FOUND", "No such media upload (or it expired).")
        try:
            data = await request.body(limit=PART_MAX + (1 << 16))
            fields = form_fields(data, request.header("content-type", ""))
            view = memoryview(data)
            form_action = bytes(view[slice(*fields.get("action", (0, 0)))]).decode()
            if form_action != action or action not in ("ADD", "FINALIZE"):
                raise MediaError(400, "INVALID_REQUEST", "action must be ADD or FINALIZE.")
            if action == "FINALIZE":
                return await self._finalize(media)
            if "file" not in fields or "part_number" not in fields:
                raise MediaError(400, "INVALID_REQUEST", "part_number and file are required.")
            number = int(bytes(view[slice(*fields["part_number"])]).decode() or "0")
            await add_part(media, number, view[slice(*fields["file"])])
        except MediaError as exc:
            return envelope_error(exc.status, exc.code, str(exc))
        except ValueError:
            return envelope_error(400, "INVALID_REQUEST", "Malformed part_number.")
        return _success({})

    async def _finalize(self, media: Media) -> Response:
        if media.finalized_at is None:
            await finalize(media, self._ctx.store.clock())
            self._ctx.store.uploads.pop((self.name, media.upload.id), None)
        return _success({})

    async def _get_media(self, request: Request, pid: str, media_id: str) -> Response:
        account, denied = self._owner(request, pid)
        if account is None:
            return denied or envelope_error(401, "UNAUTHORIZED", "Unauthorized.")
        media = self._find(pid, media_id)
        if media is None:
            return envelope_error(404, "NOT_FOUND", f"No media {media_id}.")
        entity = media.to_json(self._ctx.store.clock(), self._processing)
        return _success({"media": [{"sub_request_status": "SUCCESS", "media": entity}]})

    # -- posts ------------------------------------------------------------------------------

    async def _publish(self, request: Request, pid: str, kind: str) -> Response:
        account, denied = self._owner(request, pid)
        if account is None:
            return denied or envelope_error(401, "UNAUTHORIZED", "Unauthorized.")
        try:
            doc: Any = json.loads(await request.body())
        except ValueError:
            return envelope_error(400, "INVALID_REQUEST", "The body must be JSON.")
        media = self._find(pid, media_id_of(doc, kind))
        return self.posts.publish(media, doc, kind, self._ctx.store.clock(), self._processing)

    async def _list(self, request: Request, pid: str, kind: str) -> Response:
        account, denied = self._owner(request, pid)
        if account is None:
            return denied or envelope_error(401, "UNAUTHORIZED", "Unauthorized.")
        raw = request.query.get("limit", "50")
        limit = int(raw) if raw.isdigit() else 50
        return self.posts.listing(pid, kind, limit)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


def _success(body: dict[str, Any]) -> Response:
    return Response.json(
        200, {"request_status": "SUCCESS", "request_id": str(uuid.uuid4()), **body}
    )
