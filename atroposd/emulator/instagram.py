"""Instagram Reels via the Graph API (Facebook Login) under ``/instagram`` (providers.md §3, §8.2).

Emulated, with any ``vNN.N`` version:

- ``GET|POST /<ver>/oauth/access_token``, ``grant_type=fb_exchange_token`` (``token``): a
  sandbox login ``sandbox:<account>:…`` or a token issued here → a new ~60-day token.
- ``POST /<ver>/{ig-user-id}/media`` (``container``): form, JSON or query parameters;
  ``media_type=REELS`` and ``upload_type=resumable`` required; caption ≤ 2200 characters,
  ≤ 30 hashtags, ≤ 20 @-mentions (code 100 with ``error_user_msg``); ``thumb_offset`` a
  non-negative integer (1/2207057); → ``{"id", "uri"}``, ``uri`` absolute, pointing here.
- ``POST /rupload/ig-api-upload[/<ver>]/{container}`` (``rupload``): ``Authorization: OAuth``,
  ``offset`` equal to the bytes held, ``file_size`` fixed; ``GET`` the same (``offset``) →
  ``{"offset", "file_size"}``. Errors in the upload host's ``debug_info`` shape.
- ``GET /<ver>/{id}`` (``status``): a container's ``status_code``/``status``, or a media's
  ``permalink``, ``media_product_type``, ``timestamp``, ``caption``...
- ``POST /<ver>/{ig-user-id}/media_publish?creation_id=`` (``publish``): not finished →
  9007/2207027; expired → -2/2207020; published already → 100; cap reached → 9/2207042.
- ``GET /<ver>/{ig-user-id}/content_publishing_limit`` (``limit``), ``GET /<ver>/{ig-user-id}/
  media`` (``list``, newest first, ``limit`` ≤ 100).

Every Graph answer carries ``X-App-Usage`` and ``X-Business-Use-Case-Usage``; a token error is
190 (463 expired, 467 invalid, 458 revoked). Control (``/_emulator/instagram/...``, POST):
``publishing_limit`` ``{"quota_total", "quota_duration"}``, ``expire_containers``
``{"id"?}``, ``fail_processing`` ``{"status"?, "count"?}`` (the next containers end in ERROR),
``container_uri`` ``{"on": false}`` (containers answer ``{"id"}`` only, as some real ones do).

Not emulated: ``video_url``/``file_url`` uploads, discovery (``/me/accounts``), the 400
containers per 24 h, carousels, stories, collaborators, real media checks beyond the first box.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from atroposd.emulator.faults import ErrorBody, run_step
from atroposd.emulator.instagram_media import (
    UNSUPPORTED_FORMAT,
    Container,
    Media,
    PublishingLimit,
    caption_problem,
    looks_like_video,
    new_id,
    now_utc,
)
from atroposd.emulator.meta import (
    GraphTokens,
    RuploadHost,
    graph_error,
    graph_fault_body,
    graph_ok,
    rupload_fault_body,
    split_version,
)
from atroposd.emulator.platform import Context
from atroposd.emulator.wire import Request, Response

RUPLOAD = "/rupload/ig-api-upload/"
Work = Callable[[], Awaitable[Response]]


class Instagram:
    """The emulated Instagram platform."""

    name = "instagram"
    steps = frozenset(
        {"token", "container", "rupload", "offset", "status", "publish", "limit", "list"}
    )

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self._ctx = ctx
        self._processing_seconds = processing_seconds
        self._tokens = GraphTokens(ctx, self.name)
        self._host = RuploadHost(ctx, self.name)
        self._containers: dict[str, Container] = {}
        self._media: dict[str, Media] = {}
        self._owners: dict[str, str] = {}  # ig user id -> the account that first used it
        self._limit = PublishingLimit()
        self._failing: list[str] = []  # ERROR texts for the next containers
        self._with_uri = True  # some real answers carry only the id (providers.md §3.1)

    def reset(self) -> None:
        """Forget containers, media, owners, limits and issued tokens."""
        self._tokens.reset()
        self._host.reset()
        self._containers.clear()
        self._media.clear()
        self._owners.clear()
        self._limit = PublishingLimit()
        self._failing.clear()
        self._with_uri = True

    def _now(self) -> float:
        return self._ctx.store.clock()

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        step, work, body = self._route(request, path)
        if work is None:
            return graph_error(400, 100, f"Unsupported request {request.method} {path}")
        return await run_step(self._ctx.faults, self.name, step, request, work, body)

    def _route(self, request: Request, path: str) -> tuple[str, Work | None, ErrorBody]:
        if path.startswith(RUPLOAD):
            public_id = path.removeprefix(RUPLOAD).rsplit("/", 1)[-1]
            step = "offset" if request.method == "GET" else "rupload"
            return step, lambda: self._rupload(request, public_id), rupload_fault_body
        split = split_version(path)
        if split is None:
            return "", None, graph_fault_body
        parts = split[1].strip("/").split("/")
        method = request.method
        routes: dict[tuple[str, int, str], tuple[str, Work]] = {
            ("GET", 2, "oauth/access_token"): (
                "token",
                lambda: self._tokens.exchange(request),
            ),
            ("POST", 2, "oauth/access_token"): (
                "token",
                lambda: self._tokens.exchange(request),
            ),
            ("POST", 2, "media"): ("container", lambda: self._create(request, parts[0])),
            ("POST", 2, "media_publish"): ("publish", lambda: self._publish(request, parts[0])),
            ("GET", 2, "content_publishing_limit"): (
                "limit",
                lambda: self._quota(request, parts[0]),
            ),
            ("GET", 2, "media"): ("list", lambda: self._list(request, parts[0])),
        }
        key = (method, len(parts), "/".join(parts) if parts[0] == "oauth" else parts[-1])
        if key in routes:
            step, work = routes[key]
            return step, work, graph_fault_body
        if method == "GET" and len(parts) == 1 and parts[0]:
            return "status", lambda: self._read(request, parts[0]), graph_fault_body
        return "", None, graph_fault_body

    async def control(self, request: Request, rest: str) -> Response:
        """``/_emulator/instagram/<rest>``: publishing_limit, expire_containers, fail_processing."""
        raw = await request.body()
        doc = json.loads(raw) if raw.strip() else {}
        if request.method != "POST" or not isinstance(doc, dict):
            return Response.json(400, {"error": "POST a JSON object"})
        if rest == "/publishing_limit":
            self._limit.quota_total = int(doc.get("quota_total", self._limit.quota_total))
            self._limit.quota_duration = float(
                doc.get("quota_duration", self._limit.quota_duration)
            )
            return Response.json(200, {"ok": True})
        if rest == "/expire_containers":
            hit = [c for c in self._containers.values() if doc.get("id") in (None, c.id)]
            for container in hit:
                container.expired = True
            return Response.json(200, {"expired": len(hit)})
        if rest == "/container_uri":
            self._with_uri = bool(doc.get("on", True))
            return Response.json(200, {"ok": True})
        if rest == "/fail_processing":
            text = str(doc.get("status") or UNSUPPORTED_FORMAT)
            self._failing.extend([text] * int(doc.get("count", 1)))
            return Response.json(200, {"ok": True})
        return Response.json(404, {"error": f"no instagram control {rest}"})

    # -- helpers --------------------------------------------------------------------------

    async def _params(self, request: Request) -> dict[str, str]:
        """Query parameters, overlaid by a form or JSON body."""
        params = dict(request.query)
        raw = await request.body()
        if not raw.strip():
            return params
        if "json" in request.header("content-type", ""):
            doc = json.loads(raw)
            if isinstance(doc, dict):
                params.update({k: _text(v) for k, v in doc.items()})
            return params
        params.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
        return params

    def _user(self, request: Request, ig_user: str) -> str | Response:
        """The token's account, if it may act for ``ig_user``."""
        account = self._tokens.check(request)
        if isinstance(account, Response):
            return account
        owner = self._owners.setdefault(ig_user, account)
        if owner != account:
            return graph_error(
                400,
                10,
                "(#10) Application does not have permission for this action",
                obj_id=ig_user,
            )
        return account

    # -- steps ----------------------------------------------------------------------------

    async def _create(self, request: Request, ig_user: str) -> Response:
        account = self._user(request, ig_user)
        if isinstance(account, Response):
            return account
        try:
            params = await self._params(request)
        except (ValueError, UnicodeDecodeError):
            return graph_error(400, 100, "Invalid JSON body", obj_id=ig_user)
        invalid = _invalid_container(params)
        if invalid is not None:
            return invalid
        caption = params.get("caption", "")
        offset = params.get("thumb_offset")
        container = Container(
            id=new_id(17),
            ig_user=ig_user,
            account=account,
            caption=caption,
            share_to_feed=params.get("share_to_feed", "true").lower() != "false",
            thumb_offset=int(offset) if offset else None,
            created=self._now(),
            error=self._failing.pop(0) if self._failing else None,
        )
        self._containers[container.id] = container
        self._host.open(container.id, account, caption.split("\n", 1)[0])
        base = self._ctx.base_url(request)
        version = split_version(request.path.removeprefix(f"/{self.name}"))
        ver = version[0] if version else "v26.0"
        uri = f"{base}/{self.name}{RUPLOAD}{ver}/{container.id}"
        answer = {"id": container.id, "uri": uri} if self._with_uri else {"id": container.id}
        return graph_ok(answer, ig_user)

    async def _rupload(self, request: Request, container_id: str) -> Response:
        account = self._tokens.check(request, rupload=True)
        if isinstance(account, Response):
            return account
        response = await self._host.handle(request, container_id, account)
        container = self._containers.get(container_id)
        if (
            container is not None
            and container.uploaded_at is None
            and self._host.complete(container_id)
        ):
            container.uploaded_at = self._now()
            upload = self._host.upload(container_id)
            if upload is not None and not looks_like_video(upload.blob.path):
                container.error = container.error or UNSUPPORTED_FORMAT
        return response

    async def _read(self, request: Request, object_id: str) -> Response:
        account = self._tokens.check(request)
        if isinstance(account, Response):
            return account
        wanted = set(request.query.get("fields", "id").split(","))
        container = self._containers.get(object_id)
        if container is not None and container.account == account:
            code = container.status_code(self._now(), self._processing_seconds)
            body = {"id": container.id, "status_code": code, "status": container.status_text(code)}
            return graph_ok({k: v for k, v in body.items() if k == "id" or k in wanted})
        media = self._media.get(object_id)
        if media is not None and self._owners.get(media.ig_user) == account:
            return graph_ok(media.fields(wanted), media.ig_user)
        return _missing(object_id)

    async def _publish(self, request: Request, ig_user: str) -> Response:
        account = self._user(request, ig_user)
        if isinstance(account, Response):
            return account
        params = await self._params(request)
        container = self._containers.get(params.get("creation_id", ""))
        if container is None or container.ig_user != ig_user:
            return _missing(params.get("creation_id", ""))
        refused = self._refuse_publish(container, ig_user)
        if refused is not None:
            return refused
        media = Media(new_id(18), ig_user, container.caption, now_utc())
        self._host.finish(container.id, media.id, container.caption)
        self._media[media.id] = media
        container.media_id = media.id
        self._limit.count(ig_user, self._now())
        return graph_ok({"id": media.id}, ig_user)

    def _refuse_publish(self, container: Container, ig_user: str) -> Response | None:
        code = container.status_code(self._now(), self._processing_seconds)
        if code == "PUBLISHED":
            return graph_error(400, 100, "The media has already been published", obj_id=ig_user)
        if code == "EXPIRED":
            return graph_error(
                400,
                -2,
                "The media container has expired",
                subcode=2207020,
                obj_id=ig_user,
                user_title="Media expired",
                user_msg="The media was not published within 24 hours.",
            )
        if code != "FINISHED" or self._host.upload(container.id) is None:
            return graph_error(
                400,
                9007,
                "Media ID is not available",
                subcode=2207027,
                obj_id=ig_user,
                user_title="Media not ready",
                user_msg="The media is not ready for publishing, please wait for a moment",
            )
        if self._limit.full(ig_user, self._now()):
            return graph_error(
                400,
                9,
                "Application request limit reached",
                subcode=2207042,
                obj_id=ig_user,
                user_title="Publishing limit reached",
                user_msg="You reached maximum number of posts that is allowed to be published "
                "by Content Publishing API.",
            )
        return None

    async def _quota(self, request: Request, ig_user: str) -> Response:
        account = self._user(request, ig_user)
        if isinstance(account, Response):
            return account
        return graph_ok(self._limit.answer(ig_user, self._now()), ig_user)

    async def _list(self, request: Request, ig_user: str) -> Response:
        account = self._user(request, ig_user)
        if isinstance(account, Response):
            return account
        wanted = set(request.query.get("fields", "id").split(","))
        raw = request.query.get("limit", "25")
        limit = max(1, min(100, int(raw))) if raw.isdigit() else 25
        mine = [m for m in self._media.values() if m.ig_user == ig_user]
        mine.sort(key=lambda m: m.timestamp, reverse=True)
        return graph_ok({"data": [m.fields(wanted) for m in mine[:limit]]}, ig_user)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _missing(object_id: str) -> Response:
    message = (
        f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation."
    )
    return graph_error(400, 100, message, type="GraphMethodException", subcode=33)


def _invalid_container(params: dict[str, str]) -> Response | None:
    """Meta's refusal of a container's parameters, if any."""
    media_type = params.get("media_type", "")
    if media_type != "REELS":
        return graph_error(
            400,
            100,
            f"(#100) media_type {media_type!r} is not supported here; use REELS",
            user_title="Unsupported media type",
            user_msg="Only REELS containers are supported.",
        )
    if params.get("upload_type") != "resumable":
        return graph_error(400, 100, "(#100) The parameter video_url is required")
    problem = caption_problem(params.get("caption", ""))
    if problem is not None:
        return graph_error(
            400, 100, "(#100) Invalid parameter", user_title=problem[0], user_msg=problem[1]
        )
    offset = params.get("thumb_offset")
    if offset is not None and not offset.isdigit():
        return graph_error(
            400,
            1,
            "Invalid thumb_offset",
            subcode=2207057,
            user_title="Invalid thumbnail offset",
            user_msg="The thumbnail offset is not valid.",
        )
    return None
