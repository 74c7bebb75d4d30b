"""TikTok Content Posting API v2, Direct Post with ``FILE_UPLOAD`` (providers.md §5).

Flow: ``creator_info/query`` (before every post: the privacy levels and interaction switches
it returns are the only ones used) -> ``video/init`` with the chunk arithmetic of
``TIKTOK_PLAN`` -> the ref ``{publish_id, upload_url}`` is saved before the first chunk ->
``PUT`` each chunk to the ``upload_url`` exactly as returned, with ``Content-Range`` and
``Content-Type`` -> ``status/fetch`` until ``PUBLISH_COMPLETE`` (or ``FAILED`` + reason).

The upload *is* the publish (direct post): TikTok publishes once the last byte is in, with no
further call, so ``publish_step`` is False and the last chunk is the commit (docs/adr/0008).
The ref is marked before that chunk goes out. After any interruption ``status/fetch`` is
asked where the publish stands before a byte is sent; a new ``init`` happens only when the old
publish provably cannot become a post (TikTok does not know it and its last chunk never went
out, or it holds fewer bytes than the file and its upload URL is expired or refuses chunks).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import httpx

from atroposd.clock import Clock
from atroposd.errors import (
    ConfigError,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    QuotaExhausted,
)
from atroposd.providers._http import file_slice, guarded
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
from atroposd.providers.chunks import TIKTOK_PLAN, Chunk
from atroposd.providers.spec import PlatformSpec
from atroposd.providers.tiktok.account import PRIVACY_LEVELS, TikTokAccount
from atroposd.providers.tiktok.checks import CAPTION, check_request, media_type
from atroposd.providers.tiktok.errors import NAME, classify, data_of, error_of, succeeded
from atroposd.providers.tiktok.wire import (
    FINAL_SENT,
    NOT_FOUND_CODES,
    PUBLISH,
    CreatorInfo,
    TikTokEndpoints,
    post_info,
    status_of,
)

# upload_url is valid one hour (§5.2 [OFF]); a chunk is not started in its last minutes.
URL_TTL = timedelta(hours=1)
URL_MARGIN = timedelta(minutes=5)
JSON = {"Content-Type": "application/json; charset=UTF-8"}
PER_MINUTE = {"creator_info": 20, "init": 6}  # per user token (§5.4 [OFF])
RATE_WINDOW = timedelta(minutes=1)


class _UrlRefused(Exception):
    """The upload URL refused an in-order chunk, or is past its lifetime."""

    def __init__(self, ref: RemoteRef, final_refused: bool = False) -> None:
        super().__init__("upload URL refused")
        self.ref = ref  # the publish as last saved
        self.final_refused = final_refused  # TikTok answered the last chunk with a 4xx


class TikTokProvider:
    """Posts videos to TikTok profiles through the Content Posting API (direct post)."""

    name = NAME
    capabilities = Capabilities(
        title=None,  # TikTok's only text is the caption, sent as post_info.title
        description=CAPTION,
        max_bytes=4 * 10**9,  # "4 GB" read the strict way
        max_duration_s=600.0,  # the creator's max_video_post_duration_sec may be lower
        resumable=True,
        publish_step=False,  # direct post: the last chunk publishes (docs/adr/0008)
        concurrency=2,
        chunk_plan=TIKTOK_PLAN,
        privacy_values=PRIVACY_LEVELS,
        # providers.md §5.3 [OFF]: MP4/WebM/MOV, H.264/H.265/VP8/VP9, 360-4096 px, 23-60 fps.
        media=MediaLimits(
            containers=frozenset({"mp4", "mov", "webm"}),
            video_codecs=frozenset({"h264", "hevc", "vp8", "vp9"}),
            max_long_side=4096,
            max_fps=60.0,
            min_fps=23.0,
            min_short_side=360,
        ),
        label="TikTok",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoints: TikTokEndpoints,
        credentials: CredentialStore,
        client_key: str,
        client_secret: str,
        clock: Clock,
        chunk_size: int = 8 * 1024 * 1024,
    ) -> None:
        self._http = http
        self._ep = endpoints
        self._clock = clock
        self._chunk_pref = chunk_size  # a preference; TIKTOK_PLAN decides per file
        self._sent: dict[tuple[str, str], deque[datetime]] = {}  # (account, step) -> sent at
        token = TokenEndpoint(
            NAME, endpoints.token_url, client_key, client_secret, client_id_param="client_key"
        )
        self._auth = OAuth2Tokens(
            http, token, credentials, clock, classify=lambda r, step: self._error(r, step)
        )

    def _error(self, response: httpx.Response, step: str) -> ProviderError:
        return classify(response, step, self._clock.now())

    def _take(self, account: str, step: str) -> None:
        """Count one ``step`` request in TikTok's per-minute window for ``account`` (6 inits,
        20 creator_info per token, §5.4), or park the post until it frees, nothing sent:
        a backlog is deferred however long it is, never failed by 429s (issue 7). A 429
        TikTok sends anyway is still ``RateLimited``."""
        now = self._clock.now()
        seen = self._sent.setdefault((account, step), deque())
        while seen and seen[0] <= now - RATE_WINDOW:
            seen.popleft()
        if len(seen) >= PER_MINUTE[step]:
            raise QuotaExhausted(
                f"TikTok takes {PER_MINUTE[step]} {step} requests a minute per account; "
                "this post waits for the next free slot, nothing sent yet",
                platform=NAME,
                code="rate_window_full",
                retry_at=seen[0] + RATE_WINDOW,
            )
        seen.append(now)

    # -- contract -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call (``checks.py``)."""
        check_request(request, self.capabilities.max_bytes)

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Resume the saved publish where TikTok says it stands, or start one; send chunks."""
        when = request.publish_at
        if resume is None and when is not None and when > self._clock.now():
            # Direct post publishes with the last byte and TikTok has no scheduling: the whole
            # upload waits for the clip's publish_at (parked, not an attempt), never early.
            raise QuotaExhausted(
                f"TikTok cannot schedule a post: it is sent at its publish_at {when.isoformat()}",
                platform=NAME,
                code="scheduled",
                retry_at=when,
            )
        ref: RemoteRef | None = None
        offset = 0
        if resume is not None and resume.kind == PUBLISH:
            found = await self._where(request, resume, url_dead=self._expired(resume))
            if isinstance(found, UploadResult):
                return found
            if found is not None:
                ref, offset = resume, found
        if ref is None:
            ref, offset = await self._start(request, save_ref), 0
        done = await self._attempt(request, ref, offset, save_ref, progress)
        if done is not None:
            return done
        # The URL refused chunks and TikTok holds too few bytes: that publish cannot post.
        ref = await self._start(request, save_ref)
        done = await self._attempt(request, ref, 0, save_ref, progress)
        if done is not None:
            return done
        if self._expired(ref):  # our clock stopped it: the link is too slow for TikTok's hour
            raise PermanentError(
                "sending the video took longer than TikTok's upload URL lives (one hour), twice "
                f"in a row: {request.size / 1e6:.0f} MB needs a faster link or a smaller file",
                platform=NAME,
                code="upload_too_slow",
            )
        raise PermanentError(
            "TikTok refused the chunks of two fresh uploads in a row; not trying again",
            platform=NAME,
            code="upload_refused",
        )

    async def _start(self, request: UploadRequest, save_ref: SaveRef) -> RemoteRef:
        ref = await self._init(request)
        await save_ref(ref)  # before the first chunk
        return ref

    async def _attempt(
        self,
        request: UploadRequest,
        ref: RemoteRef,
        offset: int,
        save_ref: SaveRef,
        progress: Progress | None,
    ) -> UploadResult | None:
        """Send from ``offset``; None when the URL refused and a new init is provably safe."""
        try:
            return await self._send_from(request, ref, offset, save_ref, progress)
        except _UrlRefused as refused:
            found = await self._where(request, refused.ref, True, refused.final_refused)
        return found if isinstance(found, UploadResult) else None

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where a saved publish stands, from ``status/fetch``."""
        if ref.kind != PUBLISH:
            return RemoteStatus(RemotePhase.NOT_FOUND)
        body = {"publish_id": ref.data["publish_id"]}
        url = self._ep.url("post/publish/status/fetch/")
        resp = await self._auth.send(
            account,
            "fetch publish status",
            lambda auth: self._http.post(url, json=body, headers={**JSON, **auth}),
        )
        if not succeeded(resp):
            if error_of(resp)[0] in NOT_FOUND_CODES:
                return RemoteStatus(RemotePhase.NOT_FOUND)
            raise self._error(resp, "fetch publish status")
        return status_of(data_of(resp), ref)

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """Direct Post has no publish call: the last chunk publishes."""
        raise PermanentError("tiktok has no publish step (direct post)", platform=NAME)

    # -- steps ----------------------------------------------------------------------------

    async def _creator(self, account: str) -> CreatorInfo:
        self._take(account, "creator_info")
        url = self._ep.url("post/publish/creator_info/query/")
        resp = await self._auth.send(
            account,
            "query creator info",
            lambda auth: self._http.post(url, content=b"", headers={**JSON, **auth}),
        )
        if not succeeded(resp):
            raise self._error(resp, "query creator info")
        return CreatorInfo.parse(data_of(resp))

    async def _init(self, request: UploadRequest) -> RemoteRef:
        """``creator_info`` then ``video/init``: the ref of the new publish (not yet saved)."""
        creator = await self._creator(request.account)
        info = post_info(request, creator)  # PermanentError here: nothing was uploaded
        chunk = TIKTOK_PLAN.chunk_size(request.size, self._chunk_pref)
        source = {
            "source": "FILE_UPLOAD",
            "video_size": request.size,
            "chunk_size": chunk,
            "total_chunk_count": TIKTOK_PLAN.count(request.size, chunk),
        }
        self._take(request.account, "init")
        url = self._ep.url("post/publish/video/init/")
        body = {"post_info": info, "source_info": source}
        resp = await self._auth.send(
            request.account,
            "init video post",
            lambda auth: self._http.post(url, json=body, headers={**JSON, **auth}),
        )
        data = data_of(resp)
        if not succeeded(resp) or not data.get("publish_id") or not data.get("upload_url"):
            raise self._error(resp, "init video post")
        expires = self._clock.now() + URL_TTL - URL_MARGIN
        return RemoteRef(
            PUBLISH,
            {
                "publish_id": str(data["publish_id"]),
                "upload_url": str(data["upload_url"]),  # absolute; followed as given
                "size": str(request.size),
                "chunk_size": str(chunk),
                "url_expires_at": expires.isoformat(),
                "username": creator.username,
            },
        )

    def _expired(self, ref: RemoteRef) -> bool:
        raw = ref.data.get("url_expires_at")
        return raw is not None and self._clock.now() >= datetime.fromisoformat(raw)

    async def _where(
        self, request: UploadRequest, ref: RemoteRef, url_dead: bool, final_refused: bool = False
    ) -> UploadResult | int | None:
        """Ask TikTok about a saved publish: done or processing (the result, nothing to send),
        bytes held (go on from there), or None when a new init is provably safe.

        ``url_dead``: no more chunks go to its upload URL. ``final_refused``: the last chunk
        was answered with a 4xx, so it did not complete the upload; only that makes a
        publish TikTok no longer knows safe to replace once its last chunk went out.
        """
        st = await self.status(request.account, ref)
        if st.phase in (RemotePhase.PUBLISHED, RemotePhase.PROCESSING):
            return self._result(request, ref, request.size)
        if st.phase is RemotePhase.FAILED:
            if st.reason == "failed: internal":  # the only reason worth a new init (§5.2)
                return None
            raise PermanentError(
                f"TikTok {st.reason}", platform=NAME, code="failed", platform_message=st.reason
            )
        if st.phase is RemotePhase.NOT_FOUND:
            if ref.data.get(FINAL_SENT) and not final_refused:
                # Every byte may have gone and TikTok forgot the publish_id: it may have posted
                # (an upload URL past its hour says nothing about a chunk sent before).
                raise OutcomeUnknown(
                    "the whole video was sent but TikTok no longer knows the publish; check "
                    "the profile, then `atroposd resolve ID --posted URL` or `--not-posted`",
                    platform=NAME,
                    code="publish_id_not_found",
                )
            return None  # the last chunk never went out, or was refused: it cannot post
        if url_dead:
            return None  # bytes missing and the URL takes no more: it can never publish
        return st.offset

    async def _send_from(
        self,
        request: UploadRequest,
        ref: RemoteRef,
        offset: int,
        save_ref: SaveRef,
        progress: Progress | None,
    ) -> UploadResult:
        """PUT the chunks from the one holding ``offset`` on, strictly in order."""
        size, chunk_size = request.size, int(ref.data["chunk_size"])
        start = offset
        while offset < size:
            piece = TIKTOK_PLAN.next_chunk(size, chunk_size, offset)
            if self._expired(ref):
                raise _UrlRefused(ref)
            if piece.end >= size and not ref.data.get(FINAL_SENT):
                ref = RemoteRef(PUBLISH, {**ref.data, FINAL_SENT: "1"})
                await save_ref(ref)  # the next request publishes the video
            await self._put(request, ref, piece)
            offset = piece.end
            if progress:
                progress(offset, size)
        # One status/fetch: TikTok holds every byte (and a token is checked before we say so).
        st = await self.status(request.account, ref)
        if st.phase is RemotePhase.FAILED:
            raise PermanentError(
                f"TikTok {st.reason}", platform=NAME, code="failed", platform_message=st.reason
            )
        return self._result(request, ref, start)

    async def _put(self, request: UploadRequest, ref: RemoteRef, piece: Chunk) -> None:
        last = piece.end - 1
        headers = {
            "Content-Range": f"bytes {piece.offset}-{last}/{request.size}",
            "Content-Length": str(piece.length),
            "Content-Type": media_type(request),
        }
        step = f"upload chunk {piece.index + 1} (bytes {piece.offset}-{last})"
        url = ref.data["upload_url"]
        resp = await guarded(  # no Authorization: the upload_token in the URL is the credential
            NAME,
            step,
            lambda: self._http.put(
                url,
                content=file_slice(request.path, piece.offset, piece.length, request.identity),
                headers=headers,
            ),
        )
        if 200 <= resp.status_code < 300:
            return
        if 400 <= resp.status_code < 500 and resp.status_code not in (401, 408, 429):
            # expired or rejected: status/fetch decides what is safe
            raise _UrlRefused(ref, final_refused=piece.end >= request.size)
        raise self._error(resp, step)

    def _result(self, request: UploadRequest, ref: RemoteRef, resumed_from: int) -> UploadResult:
        return UploadResult(
            remote_id=ref.data["publish_id"],
            url=None,
            bytes_sent=request.size,
            processing=True,
            ref=ref,
            resumed_from=resumed_from,
        )


SPEC = PlatformSpec(
    account=TikTokAccount,
    secrets=("TIKTOK_CLIENT_KEY", "TIKTOK_CLIENT_SECRET"),
    settings=("TIKTOK_TOKEN_URL", "TIKTOK_API_BASE"),
)


def build(ctx: ProviderContext) -> TikTokProvider:
    """The registry's factory: endpoints from settings, sandbox defaults, client secrets."""
    base = TikTokEndpoints.sandbox(ctx.sandbox_url) if ctx.sandbox else TikTokEndpoints.production()
    endpoints = TikTokEndpoints(
        ctx.override("TIKTOK_TOKEN_URL") or base.token_url,
        ctx.override("TIKTOK_API_BASE") or base.api_base,
    )
    key = ctx.secret("TIKTOK_CLIENT_KEY") or ("sandbox-client-key" if ctx.sandbox else "")
    secret = ctx.secret("TIKTOK_CLIENT_SECRET") or ("sandbox-client-secret" if ctx.sandbox else "")
    missing = [
        n for n, v in (("TIKTOK_CLIENT_KEY", key), ("TIKTOK_CLIENT_SECRET", secret)) if not v
    ]
    if missing:
        raise ConfigError(
            f".env: {', '.join(missing)}: required in production when tiktok is enabled "
            "(the client key and secret of your TikTok developer app)"
        )
    return TikTokProvider(
        ctx.http, endpoints, ctx.credentials, key, secret, ctx.clock, ctx.chunk_size
    )
