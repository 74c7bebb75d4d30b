"""YouTube Data API v3 upload protocol under ``/youtube`` (see providers.md §1).

Emulated:
- ``POST /token``: Google OAuth refresh (``grant_type=refresh_token``) and, for sandbox
  logins, ``authorization_code`` with ``code=sandbox:<account>``. A refresh token
  ``sandbox:<account>:<anything>`` is valid for ``<account>`` unless the account was revoked
  (then only refresh tokens issued by a later code exchange work). Access tokens live 3599 s.
  Rotation, as X and TikTok do it: a refresh token ``sandbox:<account>:rotate<anything>`` is
  answered with a new one of the same form and stops working once used (``invalid_grant``).
- ``POST /upload/youtube/v3/videos?uploadType=resumable`` (metadata validated like YouTube:
  title, description, tags, categoryId, privacy, publishAt) → 200 + ``Location`` session URI.
- ``PUT <session URI>``: chunks with ``Content-Range: bytes a-b/N`` (or a whole body without
  it), 308 + ``Range`` while incomplete, 200 + the video resource when complete; status query
  ``bytes */N``; 404 for unknown sessions. A chunk starting past the stored size → 400; one
  starting before it has its overlap ignored (as Google's servers do). Non-final chunks must
  be 256 KiB multiples (400 otherwise; real servers may instead keep a rounded-down prefix).
  A chunk cut off mid-body keeps its largest 256 KiB-aligned prefix.
  Without ``status.privacyStatus`` a video is ``public``.
- ``GET /youtube/v3/videos?part=status,processingDetails&id=...``: ``uploaded``/``processing``
  for ``processing_seconds`` after the upload, then ``processed``/``succeeded``.

Not emulated: quotas and the per-channel upload cap (inject them as faults), the
unaudited-project lock to private, ``uploadType=media|multipart``, session expiry after a
week (use ``/_emulator/expire_uploads``), ``*`` totals in a status query, any real media check.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote

from atroposd.emulator.faults import run_step
from atroposd.emulator.platform import Context
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.youtube_meta import (
    KNOWN_PARTS,
    MetadataError,
    VideoMeta,
    fault_body,
    google_error,
    parse_metadata,
    status_part,
    unauthenticated,
    video_resource,
)
from atroposd.emulator.youtube_upload import Session, Video, put_session

SCOPE = "https://www.googleapis.com/auth/youtube.upload"
ACCESS_TTL = 3599
UPLOAD_PATH = "/upload/youtube/v3/videos"
LIST_PATH = "/youtube/v3/videos"
_REFRESH = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


def _basic_client(request: Request) -> dict[str, str]:
    """Client credentials sent as HTTP Basic (``client_secret_basic``), if any."""
    scheme, _, value = request.header("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return {}
    client_id, _, secret = decoded.partition(":")
    return {"client_id": unquote(client_id), "client_secret": unquote(secret)}


class YouTube:
    """The emulated YouTube platform."""

    name = "youtube"
    steps = frozenset({"token", "create", "chunk", "status", "list"})

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self._ctx = ctx
        self._processing_seconds = processing_seconds
        self._sessions: dict[str, Session] = {}
        self._videos: dict[str, Video] = {}
        self._spent: set[str] = set()  # rotated refresh tokens, dead once used

    def reset(self) -> None:
        """Forget sessions, videos and spent refresh tokens."""
        self._sessions.clear()
        self._videos.clear()
        self._spent.clear()

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        step, work = self._route(request, path)
        if work is None:
            return google_error(404, "notFound", "Not Found", "global")
        return await run_step(self._ctx.faults, self.name, step, request, work, fault_body)

    def _route(
        self, request: Request, path: str
    ) -> tuple[str, Callable[[], Awaitable[Response]] | None]:
        method = request.method
        if path == "/token" and method == "POST":
            return "token", lambda: self._token(request)
        if path == UPLOAD_PATH and method == "POST" and "upload_id" not in request.query:
            return "create", lambda: self._create(request)
        if path == UPLOAD_PATH and method == "PUT":
            is_query = request.header("content-range", "").startswith("bytes */")
            step = "status" if is_query and not request.content_length else "chunk"
            return step, lambda: self._put(request)
        if path == LIST_PATH and method == "GET":
            return "list", lambda: self._list(request)
        return "", None

    def _account(self, request: Request) -> str | None:
        auth = request.header("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        return self._ctx.store.tokens.account_for(self.name, token.strip())

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        form.update(_basic_client(request))
        if not form.get("client_id") or not form.get("client_secret"):
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        tokens = self._ctx.store.tokens
        grant = form.get("grant_type")
        if grant == "authorization_code":
            code = form.get("code", "")
            if not code.startswith("sandbox:") or len(code) <= len("sandbox:"):
                return _oauth_error(400, "invalid_grant", "Malformed auth code.")
            account = code.removeprefix("sandbox:").split(":", 1)[0]
            refresh = tokens.issue_refresh(self.name, account, f"sandbox:{account}:")
            return self._grant(account, refresh)
        if grant != "refresh_token":
            return _oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + str(grant))
        refresh = form.get("refresh_token", "")
        match = _REFRESH.fullmatch(refresh)
        if (
            not match
            or refresh in self._spent
            or not tokens.refresh_usable(self.name, match.group(1), refresh)
        ):
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        account = match.group(1)
        if not refresh.startswith(f"sandbox:{account}:rotate"):
            return self._grant(account, None)
        self._spent.add(refresh)
        return self._grant(account, f"sandbox:{account}:rotate:{secrets.token_urlsafe(16)}")

    def _grant(self, account: str, refresh: str | None) -> Response:
        access = self._ctx.store.tokens.issue_access(self.name, account, ACCESS_TTL)
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": self._ctx.store.tokens.lifetime(self.name, ACCESS_TTL),
            "scope": SCOPE,
            "token_type": "Bearer",
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    async def _create(self, request: Request) -> Response:
        upload_type = request.query.get("uploadType")
        if upload_type != "resumable":
            message = (
                f"Invalid value for uploadType: {upload_type!r}; the emulator only does resumable"
            )
            return google_error(400, "invalidParameter", message, "global")
        account = self._account(request)
        if account is None:
            return unauthenticated()
        parts = frozenset(p.strip() for p in request.query.get("part", "").split(",") if p.strip())
        if not parts:
            return google_error(400, "required", "Required parameter: part", "global")
        if not parts <= KNOWN_PARTS:
            bad = ",".join(sorted(parts - KNOWN_PARTS))
            return google_error(400, "unexpectedPart", f"Unexpected part: {bad}", "youtube.part")
        media_type = request.header("x-upload-content-type", "video/*")
        if not (media_type.startswith("video/") or media_type == "application/octet-stream"):
            message = f"Media type '{media_type}' is not supported."
            return google_error(400, "badContent", message, "global")
        total_raw = request.header("x-upload-content-length")
        if total_raw is not None and not total_raw.isdigit():
            return google_error(400, "badRequest", "Invalid X-Upload-Content-Length", "global")
        try:
            meta = parse_metadata(await request.body())
        except MetadataError as exc:
            return google_error(400, exc.reason, exc.message)
        return self._open_session(request, account, meta, parts, total_raw)

    def _open_session(
        self,
        request: Request,
        account: str,
        meta: VideoMeta,
        parts: frozenset[str],
        total_raw: str | None,
    ) -> Response:
        total = int(total_raw) if total_raw is not None else None
        upload = self._ctx.store.new_upload(self.name, account, meta.title, total)
        self._sessions[upload.id] = Session(upload.id, account, meta, parts, total)
        location = (
            f"{self._ctx.base_url(request)}/{self.name}{UPLOAD_PATH}"
            f"?uploadType=resumable&upload_id={upload.id}"
        )
        headers = (("Location", location), ("X-GUploader-UploadID", upload.id))
        return Response(200, b"", headers)

    async def _put(self, request: Request) -> Response:
        session = self._sessions.get(request.query.get("upload_id", ""))
        if session is None or (
            session.video_id is None
            and (self.name, session.upload_id) not in self._ctx.store.uploads
        ):
            return google_error(404, "notFound", "Not Found", "global")
        account = self._account(request)
        if account is None:
            return unauthenticated()
        if account != session.account:
            return google_error(
                403, "forbidden", "The session belongs to another channel.", "global"
            )
        return await put_session(request, session, self._ctx.store, self._videos, self._publish)

    def _publish(self, session: Session) -> Video:
        """Called once the last byte is stored: record the post and the video."""
        upload = self._ctx.store.uploads[(self.name, session.upload_id)]
        video_id = secrets.token_urlsafe(8)  # 11 characters of [A-Za-z0-9_-], like YouTube ids
        published_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        resource = video_resource(
            video_id, session.meta, session.account, published_at, session.parts
        )
        video = Video(video_id, session.account, session.meta, resource, self._ctx.store.clock())
        self._ctx.store.finish_upload(upload, video_id, session.meta.description)
        self._videos[video_id] = video
        session.video_id = video_id
        return video

    async def _list(self, request: Request) -> Response:
        account = self._account(request)
        if account is None:
            return unauthenticated()
        parts = frozenset(p.strip() for p in request.query.get("part", "").split(",") if p.strip())
        if not parts:
            return google_error(400, "required", "Required parameter: part", "global")
        ids = [i for i in request.query.get("id", "").split(",") if i]
        items = [self._list_item(self._videos[i], parts) for i in ids if self._visible(i, account)]
        body = {
            "kind": "youtube#videoListResponse",
            "etag": "emu",
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
        return Response.json(200, body)

    def _visible(self, video_id: str, account: str) -> bool:
        video = self._videos.get(video_id)
        return video is not None and (video.account == account or video.meta.privacy != "private")

    def _list_item(self, video: Video, parts: frozenset[str]) -> dict[str, object]:
        done = self._ctx.store.clock() - video.uploaded_at >= self._processing_seconds
        item: dict[str, object] = {
            "kind": "youtube#video",
            "etag": f"emu-{video.id}",
            "id": video.id,
        }
        if "snippet" in parts and "snippet" in video.resource:
            item["snippet"] = video.resource["snippet"]
        if "status" in parts:
            item["status"] = status_part(video.meta, "processed" if done else "uploaded")
        if "processingDetails" in parts:
            details: dict[str, object] = {"processingStatus": "succeeded" if done else "processing"}
            if not done:
                details["processingProgress"] = {"partsTotal": 1, "partsProcessed": 0}
            item["processingDetails"] = details
        return item
