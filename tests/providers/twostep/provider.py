"""The two-step platform's provider: the upload is not the publish (test-only).

Flow: POST /v1/media (the ref ``{media_id, upload_url, size}`` is saved before the first
byte) -> PUT chunks with ``Content-Range``, following the ``offset`` the server answers ->
``status`` polls GET /v1/media/{id} (uploading, processing, ready, published) -> once READY
the pipeline calls ``publish`` (POST /v1/media/{id}/publish). The platform posts again on
every publish call, so ``status`` answering PUBLISHED after an accepted publish is what keeps
the pipeline from a second post.

``BrokenTwoStepProvider`` is the same provider declaring ``publish_step=False``: a pipeline
(or a conformance suite) that never calls ``publish`` leaves its media READY forever.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from atroposd.captions import Counting, TextLimit
from atroposd.clock import Clock
from atroposd.errors import PermanentError, ProviderError, TransientError
from atroposd.providers._http import file_slice, json_body
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import (
    Capabilities,
    CredentialStore,
    Progress,
    ProviderContext,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    SaveRef,
    UploadRequest,
    UploadResult,
)
from tests.providers.twostep.errors import NAME, classify

MEDIA = "twostep_media"
PHASES = {
    "uploading": RemotePhase.UPLOADING,
    "processing": RemotePhase.PROCESSING,
    "ready": RemotePhase.READY,
    "published": RemotePhase.PUBLISHED,
    "expired": RemotePhase.EXPIRED,  # past its life with no post from it
}


class TwoStepProvider:
    """Uploads to the two-step platform, then publishes when the platform says ready."""

    name = NAME
    capabilities = Capabilities(
        title=TextLimit(100, Counting.CHARS),
        description=TextLimit(2200, Counting.CHARS),
        max_bytes=4 * 1024**3,
        resumable=True,
        publish_step=True,
        concurrency=2,
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        credentials: CredentialStore,
        clock: Clock,
        chunk_size: int,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._chunk = chunk_size
        endpoint = TokenEndpoint(NAME, f"{self._base}/oauth/token", "twostep-app", "app-secret")
        self._auth = OAuth2Tokens(
            http,
            endpoint,
            credentials,
            clock,
            classify=lambda resp, step: classify(resp, step, clock.now()),
        )

    def _error(self, response: httpx.Response, step: str) -> ProviderError:
        return classify(response, step, self._clock.now())

    def post_url(self, post_id: str) -> str:
        """Where a post can be seen (the sandbox has no such page; the id is what matters)."""
        return f"{self._base}/p/{post_id}"

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call."""
        if request.size <= 0:
            raise PermanentError("video is empty", platform=NAME, code="empty_file")
        if request.size > self.capabilities.max_bytes:
            raise PermanentError("video is larger than 4 GiB", platform=NAME, code="too_large")
        if not request.title.strip():
            raise PermanentError("title is empty", platform=NAME, code="invalid_title")

    async def _get_media(self, account: str, media_id: str) -> httpx.Response:
        url = f"{self._base}/v1/media/{media_id}"
        return await self._auth.send(
            account, "get media", lambda auth: self._http.get(url, headers=auth)
        )

    async def _create(self, request: UploadRequest) -> RemoteRef:
        body = {"size": request.size, "title": request.title}
        resp = await self._auth.send(
            request.account,
            "create media",
            lambda auth: self._http.post(f"{self._base}/v1/media", json=body, headers=auth),
        )
        data = json_body(resp)
        if resp.status_code != 200 or not data.get("media_id") or not data.get("upload_url"):
            raise self._error(resp, "create media")
        media = {"media_id": str(data["media_id"]), "upload_url": str(data["upload_url"])}
        return RemoteRef(MEDIA, {**media, "size": str(request.size)})

    async def _put_chunk(self, request: UploadRequest, url: str, offset: int) -> int:
        """Send the chunk at ``offset``; the number of bytes the platform now holds."""
        length = min(self._chunk, request.size - offset)
        last = offset + length - 1
        headers = {
            "Content-Range": f"bytes {offset}-{last}/{request.size}",
            "Content-Length": str(length),
            "Content-Type": request.mime_type,
        }
        step = f"upload bytes {offset}-{last}"
        resp = await self._auth.send(
            request.account,
            step,
            lambda auth: self._http.put(
                url,
                content=file_slice(request.path, offset, length, request.identity),
                headers={**headers, **auth},
            ),
        )
        stored = json_body(resp).get("offset")
        if resp.status_code != 200 or not isinstance(stored, int):
            raise self._error(resp, step)
        if stored <= offset:  # never loop on a server that keeps nothing
            raise TransientError(f"{step}: the platform kept no byte", platform=NAME)
        return stored

    async def _resume_at(self, request: UploadRequest, ref: RemoteRef) -> int | None:
        """Bytes the platform holds for a saved media; None when it is gone (start over)."""
        resp = await self._get_media(request.account, ref.data["media_id"])
        if resp.status_code == 404:
            return None  # never got all its bytes, so it can never be published: a new one is safe
        data = json_body(resp)
        if resp.status_code != 200 or data.get("state") not in PHASES:
            raise self._error(resp, "get media")
        if data["state"] != "uploading":
            return request.size  # every byte is there: never send them again
        return int(data.get("offset") or 0)

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Create or resume the media, then send the remaining bytes in chunks."""
        ref, offset = None, 0
        if resume is not None and resume.kind == MEDIA:
            held = await self._resume_at(request, resume)
            if held is not None:
                ref, offset = resume, held
        if ref is None:
            ref = await self._create(request)
            await save_ref(ref)  # before the first byte
        start = offset
        while offset < request.size:
            offset = await self._put_chunk(request, ref.data["upload_url"], offset)
            if progress:
                progress(offset, request.size)
        return UploadResult(
            remote_id=ref.data["media_id"],
            url=None,
            bytes_sent=request.size,
            processing=True,
            ref=ref,
            resumed_from=start,
        )

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where a saved media item stands; PUBLISHED once any publish of it was accepted."""
        resp = await self._get_media(account, ref.data["media_id"])
        if resp.status_code == 404:
            return RemoteStatus(RemotePhase.NOT_FOUND)
        data = json_body(resp)
        phase = PHASES.get(str(data.get("state")))
        if resp.status_code != 200 or phase is None:
            raise self._error(resp, "get media")
        if phase is RemotePhase.PUBLISHED:
            post_id = str(data.get("post_id") or "")
            return RemoteStatus(phase, remote_id=post_id, url=self.post_url(post_id))
        return RemoteStatus(phase, offset=int(data.get("offset") or 0))

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """Publish the ready media with the request's text; every call is a new post."""
        url = f"{self._base}/v1/media/{ref.data['media_id']}/publish"
        body = {"text": request.description}
        resp = await self._auth.send(
            request.account,
            "publish",
            lambda auth: self._http.post(url, json=body, headers=auth),
        )
        post_id = json_body(resp).get("post_id")
        if resp.status_code != 200 or not post_id:
            raise self._error(resp, "publish")
        return UploadResult(
            remote_id=str(post_id),
            url=self.post_url(str(post_id)),
            bytes_sent=request.size,
            processing=False,
            ref=ref,
        )


class BrokenTwoStepProvider(TwoStepProvider):
    """The same platform, wrongly declaring that its upload is the publish."""

    capabilities = replace(TwoStepProvider.capabilities, publish_step=False)


def _args(ctx: ProviderContext) -> tuple[httpx.AsyncClient, str, CredentialStore, Clock, int]:
    base = ctx.override("base_url") or f"{ctx.sandbox_url.rstrip('/')}/{NAME}"
    return ctx.http, base, ctx.credentials, ctx.clock, ctx.chunk_size


def build(ctx: ProviderContext) -> TwoStepProvider:
    """The registry's factory (key ``twostep``); the platform exists only in the emulator."""
    return TwoStepProvider(*_args(ctx))


def build_broken(ctx: ProviderContext) -> BrokenTwoStepProvider:
    """The registry's factory for key ``twostep_broken`` (same platform, no publish step)."""
    return BrokenTwoStepProvider(*_args(ctx))
