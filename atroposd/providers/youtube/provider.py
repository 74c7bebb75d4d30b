"""YouTube Data API v3: Google's resumable upload protocol (providers.md §1).

Flow: POST a session (its URI is saved before the first byte) -> PUT chunks that are
multiples of 256 KiB, following the server's ``Range`` on every 308 -> 200/201 with the
video resource -> poll ``videos.list`` until processed. After any interruption the session
is queried with ``Content-Range: bytes */N`` before a byte is resent, so a lost final
response can never turn into a second video.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from atroposd.captions import Counting, TextLimit
from atroposd.clock import Clock
from atroposd.errors import (
    ConfigError,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    TransientError,
)
from atroposd.providers._http import file_slice, json_body
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import (
    Capabilities,
    CredentialStore,
    MediaLimits,
    Progress,
    ProviderContext,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    SaveRef,
    UploadRequest,
    UploadResult,
)
from atroposd.providers.chunks import YOUTUBE_PLAN
from atroposd.providers.spec import PlatformSpec
from atroposd.providers.youtube.account import YouTubeAccount
from atroposd.providers.youtube.errors import NAME, classify

SESSION = "youtube_session"
FINAL_SENT = "final_chunk_sent"  # in a session ref: the request that completes it went out
VIDEO = "youtube_video"


@dataclass(frozen=True)
class YouTubeEndpoints:
    """The three hosts YouTube uploads need; settings, so any compatible server can stand in."""

    token_url: str
    upload_url: str  # .../upload/youtube/v3/videos
    api_base: str  # .../youtube/v3

    @classmethod
    def production(cls) -> YouTubeEndpoints:
        """Google's real hosts."""
        return cls(
            "https://oauth2.googleapis.com/token",
            "https://www.googleapis.com/upload/youtube/v3/videos",
            "https://www.googleapis.com/youtube/v3",
        )

    @classmethod
    def sandbox(cls, base: str) -> YouTubeEndpoints:
        """The real paths under ``<base>/youtube``."""
        root = f"{base.rstrip('/')}/youtube"
        return cls(f"{root}/token", f"{root}/upload/youtube/v3/videos", f"{root}/youtube/v3")


class YouTubeProvider:
    """Uploads Shorts through the YouTube Data API v3."""

    name = NAME
    capabilities = Capabilities(
        title=TextLimit(100, Counting.CHARS, forbidden="<>", word_boundary=True),
        description=TextLimit(5000, Counting.UTF8_BYTES, forbidden="<>"),
        max_bytes=256 * 1024**3,
        max_duration_s=180.0,
        resumable=True,
        publish_step=False,
        schedules_natively=True,  # private + status.publishAt
        concurrency=2,
        chunk_plan=YOUTUBE_PLAN,  # 256 KiB multiples, the last chunk shorter
        privacy_values=("public", "private", "unlisted"),
        # Any video/* (providers.md §1.4): no codec or size rule; a Short is <= 180 s above.
        media=MediaLimits(),
        label="YouTube",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoints: YouTubeEndpoints,
        credentials: CredentialStore,
        client_id: str,
        client_secret: str,
        clock: Clock,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> None:
        self._http = http
        self._ep = endpoints
        self._clock = clock
        self._chunk = YOUTUBE_PLAN.fit(chunk_size)  # a preference, rounded to 256 KiB
        self._auth = OAuth2Tokens(
            http,
            TokenEndpoint(NAME, endpoints.token_url, client_id, client_secret),
            credentials,
            clock,
            classify=lambda resp, step: classify(resp, step, clock.now()),
        )

    def _error(self, response: httpx.Response, step: str) -> ProviderError:
        return classify(response, step, self._clock.now())

    # -- contract -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call."""
        if request.size <= 0:
            raise PermanentError("video is empty", platform=NAME, code="emptyFile")
        if request.size > self.capabilities.max_bytes:
            raise PermanentError("video is larger than 256 GB", platform=NAME, code="tooLarge")
        if not request.title.strip():
            raise PermanentError("title is empty", platform=NAME, code="invalidTitle")
        if request.privacy and request.privacy not in self.capabilities.privacy_values:
            raise PermanentError(
                f"privacy {request.privacy!r} is not one of {self.capabilities.privacy_values}",
                platform=NAME,
                code="invalidPrivacy",
            )

    def _metadata(self, req: UploadRequest) -> dict[str, Any]:
        opts = req.options
        status: dict[str, Any] = {
            "privacyStatus": req.privacy or str(opts.get("privacy", "public")),
            "selfDeclaredMadeForKids": bool(opts.get("made_for_kids", False)),
        }
        if req.publish_at is not None:
            status["privacyStatus"] = "private"
            status["publishAt"] = req.publish_at.isoformat().replace("+00:00", "Z")
        snippet: dict[str, Any] = {
            "title": req.title,
            "description": req.description,
            "categoryId": str(opts.get("category_id", "22")),
        }
        if req.tags:
            snippet["tags"] = list(req.tags)
        return {"snippet": snippet, "status": status}

    async def _create_session(self, req: UploadRequest) -> str:
        params = {"uploadType": "resumable", "part": "snippet,status"}
        if req.options.get("notify_subscribers") is False:
            params["notifySubscribers"] = "false"
        headers = {"X-Upload-Content-Length": str(req.size), "X-Upload-Content-Type": req.mime_type}
        body = self._metadata(req)
        resp = await self._auth.send(
            req.account,
            "create upload session",
            lambda auth: self._http.post(
                self._ep.upload_url, params=params, json=body, headers={**headers, **auth}
            ),
        )
        location = resp.headers.get("location")
        if resp.status_code != 200 or not location:
            raise self._error(resp, "create upload session")
        return str(location)

    async def _query(self, account: str, uri: str, size: int) -> httpx.Response:
        """Ask a session what it holds (``Content-Range: bytes */N``)."""
        headers = {"Content-Range": f"bytes */{size}", "Content-Length": "0"}
        return await self._auth.send(
            account,
            "query upload session",
            lambda auth: self._http.put(uri, headers={**headers, **auth}),
        )

    @staticmethod
    def _stored(resp: httpx.Response) -> int:
        """Bytes the server holds according to a 308's ``Range: bytes=0-N``."""
        value = resp.headers.get("range", "")
        return int(value.rsplit("-", 1)[1]) + 1 if "-" in value else 0

    def _done(
        self, resp: httpx.Response, size: int, ref: RemoteRef, resumed_from: int
    ) -> UploadResult:
        video_id = str(json_body(resp).get("id", ""))
        if not video_id:
            raise TransientError("upload finished without a video id", platform=NAME)
        return UploadResult(
            remote_id=video_id,
            url=f"https://youtube.com/shorts/{video_id}",
            bytes_sent=size,
            processing=True,
            ref=RemoteRef(VIDEO, {"id": video_id, "session": ref.data["uri"]}),
            resumed_from=resumed_from,
        )

    async def _put_chunk(self, req: UploadRequest, uri: str, offset: int) -> httpx.Response:
        length = YOUTUBE_PLAN.next_chunk(req.size, self._chunk, offset).length
        last = offset + length - 1
        headers = {
            "Content-Range": f"bytes {offset}-{last}/{req.size}",
            "Content-Length": str(length),
            "Content-Type": req.mime_type,
        }
        return await self._auth.send(
            req.account,
            f"upload bytes {offset}-{last}",
            lambda auth: self._http.put(
                uri,
                content=file_slice(req.path, offset, length, req.identity),
                headers={**headers, **auth},
            ),
        )

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Create or resume the session, then send the remaining bytes in chunks."""
        if resume is not None and resume.kind == VIDEO:  # already uploaded: never send it again
            vid = resume.data["id"]
            return UploadResult(
                remote_id=vid,
                url=f"https://youtube.com/shorts/{vid}",
                bytes_sent=request.size,
                processing=True,
                ref=resume,
                resumed_from=request.size,
            )
        found = await self._resume(request, resume) if resume is not None else None
        if isinstance(found, UploadResult):
            return found
        ref, offset = found or (None, 0)
        if ref is None:
            uri = await self._create_session(request)
            ref = RemoteRef(SESSION, {"uri": uri, "size": str(request.size)})
            await save_ref(ref)
        return await self._send_from(request, ref, offset, save_ref, progress)

    async def _resume(
        self, request: UploadRequest, resume: RemoteRef
    ) -> UploadResult | tuple[RemoteRef, int] | None:
        """Ask a saved session what it holds: complete (the result), partial (where to go on
        from), or gone (None: a new session, unless the last chunk may have completed it)."""
        if resume.kind != SESSION:
            return None
        resp = await self._query(request.account, resume.data["uri"], request.size)
        if resp.status_code in (200, 201):
            return self._done(resp, request.size, resume, request.size)
        if resp.status_code == 308:
            return resume, self._stored(resp)
        if resp.status_code != 404:
            raise self._error(resp, "query upload session")
        if resume.data.get(FINAL_SENT):
            # Every byte went out and the answer was lost; the session is gone now, so the
            # video may exist. A new session could post it twice: a human checks.
            raise OutcomeUnknown(
                "the whole video was sent but the upload session expired before its answer "
                "was recorded; check the channel's recent uploads, then "
                "`atroposd resolve ID --posted URL` or `--not-posted`",
                platform=NAME,
                code="sessionExpiredAfterFinalChunk",
            )
        return None

    async def _send_from(
        self,
        request: UploadRequest,
        ref: RemoteRef,
        offset: int,
        save_ref: SaveRef,
        progress: Progress | None,
    ) -> UploadResult:
        """PUT the chunks from ``offset`` on, following the server's ``Range``."""
        start = offset
        while True:
            piece = YOUTUBE_PLAN.next_chunk(request.size, self._chunk, offset)
            if piece.offset + piece.length >= request.size and not ref.data.get(FINAL_SENT):
                ref = RemoteRef(SESSION, {**ref.data, FINAL_SENT: "1"})
                await save_ref(ref)  # the next request may complete the video
            resp = await self._put_chunk(request, ref.data["uri"], offset)
            if resp.status_code in (200, 201):
                if progress:
                    progress(request.size, request.size)
                return self._done(resp, request.size, ref, start)
            if resp.status_code != 308:
                raise self._error(resp, "upload bytes")
            offset = self._stored(resp)
            if progress:
                progress(offset, request.size)

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where a saved session or video stands."""
        if ref.kind == SESSION:
            resp = await self._query(account, ref.data["uri"], int(ref.data["size"]))
            if resp.status_code in (200, 201):  # complete: the video's own state tells
                return await self._video_status(account, str(json_body(resp).get("id", "")))
            if resp.status_code == 308:
                return RemoteStatus(RemotePhase.UPLOADING, offset=self._stored(resp))
            if resp.status_code == 404:
                return RemoteStatus(RemotePhase.NOT_FOUND)
            raise self._error(resp, "query upload session")
        return await self._video_status(account, ref.data["id"])

    async def _video_status(self, account: str, video_id: str) -> RemoteStatus:
        params = {"part": "status,processingDetails", "id": video_id}
        resp = await self._auth.send(
            account,
            "videos.list",
            lambda auth: self._http.get(f"{self._ep.api_base}/videos", params=params, headers=auth),
        )
        if resp.status_code != 200:
            raise self._error(resp, "videos.list")
        items = json_body(resp).get("items") or []
        url = f"https://youtube.com/shorts/{video_id}"
        if not items:
            return RemoteStatus(RemotePhase.NOT_FOUND, remote_id=video_id)
        st = items[0].get("status", {})
        upload_status = st.get("uploadStatus")
        if upload_status == "processed" and self._held_past_time(st):
            # Its publishAt has passed but YouTube still holds it private: not published yet.
            return RemoteStatus(RemotePhase.PROCESSING, remote_id=video_id, url=url)
        if upload_status == "processed":  # a scheduled one (publishAt ahead): ADR 0015
            return RemoteStatus(RemotePhase.PUBLISHED, remote_id=video_id, url=url)
        if upload_status in ("failed", "rejected", "deleted"):
            why = st.get("failureReason") or st.get("rejectionReason") or upload_status
            return RemoteStatus(
                RemotePhase.FAILED, remote_id=video_id, url=url, reason=f"{upload_status}: {why}"
            )
        return RemoteStatus(RemotePhase.PROCESSING, remote_id=video_id, url=url)

    def _held_past_time(self, status: dict[str, Any]) -> bool:
        """``private`` with a ``publishAt`` already past: YouTube has not made it public."""
        when = status.get("publishAt")
        if status.get("privacyStatus") != "private" or not isinstance(when, str):
            return False
        try:
            at = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            return False
        return at.tzinfo is not None and at <= self._clock.now()

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """YouTube has no separate publish step; the upload is the publish."""
        raise PermanentError("youtube has no publish step", platform=NAME)


SPEC = PlatformSpec(
    account=YouTubeAccount,
    secrets=("YOUTUBE_CLIENT_ID", "YOUTUBE_CLIENT_SECRET"),
    settings=("YOUTUBE_TOKEN_URL", "YOUTUBE_UPLOAD_BASE", "YOUTUBE_API_BASE"),
)


def build(ctx: ProviderContext) -> YouTubeProvider:
    """The registry's factory: endpoints from settings, sandbox defaults, client secrets."""
    endpoints = (
        YouTubeEndpoints.sandbox(ctx.sandbox_url) if ctx.sandbox else YouTubeEndpoints.production()
    )
    endpoints = YouTubeEndpoints(
        ctx.override("YOUTUBE_TOKEN_URL") or endpoints.token_url,
        ctx.override("YOUTUBE_UPLOAD_BASE") or endpoints.upload_url,
        ctx.override("YOUTUBE_API_BASE") or endpoints.api_base,
    )
    client_id = ctx.secret("YOUTUBE_CLIENT_ID") or ("sandbox-client-id" if ctx.sandbox else "")
    client_secret = ctx.secret("YOUTUBE_CLIENT_SECRET") or (
        "sandbox-client-secret" if ctx.sandbox else ""
    )
    missing = [
        n
        for n, v in (("YOUTUBE_CLIENT_ID", client_id), ("YOUTUBE_CLIENT_SECRET", client_secret))
        if not v
    ]
    if missing:
        raise ConfigError(
            f".env: {', '.join(missing)}: required in production when youtube is "
            "enabled (the Google Cloud OAuth client of your project)"
        )
    return YouTubeProvider(
        ctx.http, endpoints, ctx.credentials, client_id, client_secret, ctx.clock, ctx.chunk_size
    )
