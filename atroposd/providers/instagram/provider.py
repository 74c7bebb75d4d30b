"""Instagram Reels: container → rupload → ``status_code`` → ``media_publish`` (providers.md §3).

``upload`` creates a container (``media_type=REELS``, ``upload_type=resumable``; its id and
upload ``uri`` are saved before the first byte) and sends the file to the ``uri`` exactly as
given, resuming from the offset the upload host reports. ``status`` reads the container's
``status_code``: ``IN_PROGRESS`` (uploading or processing), ``FINISHED`` (``READY``: the
pipeline publishes), ``ERROR`` (failed, with Instagram's reason), ``PUBLISHED`` (the media is
found in the account's recent media), ``EXPIRED`` (24 h unpublished: a new container is made
by the next ``upload``/``publish``). ``publish`` reads ``content_publishing_limit`` first (a
capped post waits, ``QuotaExhausted``, never fails), records that the call goes out, then sends
``media_publish``. After an ambiguous answer the pipeline asks ``status``, which looks at the
container *and*, once a publish went out, the account's recent media before it ever says
``READY`` again (providers.md §3.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from atroposd.clock import Clock
from atroposd.errors import OutcomeUnknown, PermanentError, ProviderError, TransientError
from atroposd.providers._http import json_body
from atroposd.providers.base import (
    Capabilities,
    Counting,
    CredentialStore,
    MediaLimits,
    Progress,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    SaveRef,
    TextLimit,
    UploadRequest,
    UploadResult,
)
from atroposd.providers.instagram.checks import (
    HASHTAGS,
    MAX_BYTES,
    MAX_CAPTION,
    MENTIONS,
    check_request,
)
from atroposd.providers.instagram.remote import NAME, Found, Remote, caption_digest
from atroposd.providers.meta import MetaTokens, Rupload, meta_token_endpoint
from atroposd.providers.meta.errors import CAP, GraphError
from atroposd.providers.meta.rupload import RUPLOAD_PLAN

CONTAINER = "instagram_container"
RENEWAL = "renewal"  # a container made by publish after the first one expired
RENEW_WAIT = 120.0  # seconds a publish waits for a re-made container to finish processing


class InstagramProvider:
    """Publishes Reels to Instagram professional accounts."""

    name = NAME
    capabilities = Capabilities(
        title=None,
        # 2,200 characters, 30 hashtags, 20 @-mentions (§3.2). Counted in UTF-16 units, the
        # stricter reading: an emoji is never under-counted.
        description=TextLimit(
            MAX_CAPTION, Counting.UTF16_UNITS, max_hashtags=HASHTAGS, max_mentions=MENTIONS
        ),
        max_bytes=MAX_BYTES,
        max_duration_s=15 * 60.0,
        resumable=True,
        publish_step=True,
        concurrency=2,
        chunk_plan=RUPLOAD_PLAN,
        # Reels spec (providers.md §3.2 [OFF]): MOV/MP4 with moov first, HEVC or H.264 4:2:0,
        # AAC <= 2 channels, width <= 1920, height <= 3600, 23-60 fps, 3 s - 15 min.
        media=MediaLimits(
            containers=frozenset({"mp4", "mov"}),
            video_codecs=frozenset({"h264", "hevc"}),
            chroma_420_only=True,
            audio_codecs=frozenset({"aac"}),
            max_audio_channels=2,
            max_width=1920,
            max_height=3600,
            min_aspect=0.01,
            max_aspect=10.0,
            max_fps=60.0,
            faststart=True,
            min_duration_s=3.0,
            min_fps=23.0,
            min_short_side=540,
            max_audio_rate=48000,  # "48khz sample rate maximum"
            max_video_kbps=25000,  # "VBR, 25Mbps maximum"
        ),
        label="Instagram",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        graph: str,
        credentials: CredentialStore,
        app: tuple[str, str],
        clock: Clock,
        chunk_size: int,
        ig_user: Callable[[str], str | None],
        sandbox: bool = False,
        rupload: str = "https://rupload.facebook.com/ig-api-upload/v26.0",
    ) -> None:
        self._http = http
        self._graph = graph  # e.g. https://graph.facebook.com/v26.0
        self._rupload_root = rupload  # where a container answered without ``uri`` is sent
        self._clock = clock
        self._chunk = RUPLOAD_PLAN.fit(chunk_size)
        self._ig_user = ig_user
        self._sandbox = sandbox
        endpoint = meta_token_endpoint(NAME, f"{graph}/oauth/access_token", *app)
        self._tokens = MetaTokens(http, endpoint, credentials, clock, sandbox)
        self._remote = Remote(http, graph, self._tokens, clock)
        self._rupload = Rupload(http, self._tokens, clock)

    # -- validate -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks (zero HTTP requests), in Instagram's own words where it has them."""
        check_request(request)

    def _user(self, account: str) -> str:
        ig_user = self._ig_user(account)
        if ig_user and not ig_user.isdigit() and not self._sandbox:
            raise PermanentError(
                f"account {account!r}: Instagram user id {ig_user!r} is not the numeric id "
                "(e.g. 17841400000000000) that ig_user_id / IG_BUSINESS_ID must hold",
                platform=NAME,
                code="badIgUserId",
            )
        if ig_user:
            return ig_user
        if self._sandbox:
            return f"sandbox-{account}"  # a stand-in the emulator takes, as tokens are
        raise PermanentError(
            f"account {account!r} has no Instagram user id: set "
            "accounts.<account>.platforms.instagram.ig_user_id (or IG_BUSINESS_ID in .env)",
            platform=NAME,
            code="noIgUserId",
        )

    # -- upload ---------------------------------------------------------------------------

    async def _create(self, request: UploadRequest) -> RemoteRef:
        ig_user = self._user(request.account)
        opts = request.options
        form = {
            "media_type": "REELS",
            "upload_type": "resumable",
            "caption": request.description,
            "share_to_feed": "false" if opts.get("share_to_feed") is False else "true",
        }
        if opts.get("cover_url"):
            form["cover_url"] = str(opts["cover_url"])  # wins over thumb_offset (§3.1)
        elif isinstance(opts.get("thumb_offset_ms"), int):
            form["thumb_offset"] = str(opts["thumb_offset_ms"])
        url = f"{self._graph}/{ig_user}/media"
        resp = await self._tokens.send(
            request.account,
            "create container",
            lambda token: self._http.post(
                url, data=form, headers={"Authorization": f"Bearer {token}"}
            ),
        )
        body = json_body(resp)
        if resp.status_code != 200 or not body.get("id"):
            if resp.status_code == 200:
                raise TransientError("create container: no id in the answer", platform=NAME)
            raise self._remote.error(resp, "create container")
        # The ``uri`` is followed as given; some answers carry only the id, and the bytes then
        # go to the documented rupload URL of that container (providers.md §3.1 step 2).
        uri = str(body.get("uri") or f"{self._rupload_root}/{body['id']}")
        return RemoteRef(
            CONTAINER,
            {
                "id": str(body["id"]),
                "uri": uri,
                "ig_user": ig_user,
                "size": str(request.size),
                "caption": caption_digest(request.description),
                "created": f"{self._clock.now().timestamp():.3f}",
            },
        )

    def _result(self, ref: RemoteRef, size: int, resumed_from: int) -> UploadResult:
        return UploadResult(
            remote_id=ref.data["id"],
            url=None,
            bytes_sent=size,
            processing=True,
            ref=ref,
            resumed_from=resumed_from,
        )

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Create (or resume) the container, then send the bytes the host does not hold."""
        ref, offset = None, 0
        if resume is not None and resume.kind == CONTAINER:
            found = await self._resumable(request.account, resume, request.size)
            if isinstance(found, UploadResult):
                return found
            if found is not None:
                ref, offset = resume, found
        if ref is None:
            ref = await self._create(request)
            await save_ref(ref)  # before the first byte
        await self._rupload.send_from(
            request.account,
            ref.data["uri"],
            request.path,
            request.size,
            offset,
            self._chunk,
            request.identity,
            progress,
        )
        return self._result(RemoteRef(CONTAINER, {**ref.data, "sent": "1"}), request.size, offset)

    async def _resumable(
        self, account: str, ref: RemoteRef, size: int
    ) -> UploadResult | int | None:
        """A saved container: done (the result), partly sent (the offset), or unusable."""
        state = await self._remote.container(account, ref.data["id"])
        if state.code in ("FINISHED", "PUBLISHED"):  # every byte arrived
            return self._result(RemoteRef(CONTAINER, {**ref.data, "sent": "1"}), size, size)
        if state.code is None and ref.data.get("publish_sent"):
            # Gone after a publish went out: the Reel may exist. A new container is made only
            # once Instagram's own state shows none came from this one.
            if await self._remote.find_media(account, ref) is not None:
                return self._result(RemoteRef(CONTAINER, {**ref.data, "sent": "1"}), size, size)
            raise self._gone(ref)
        if state.code != "IN_PROGRESS":
            return None  # EXPIRED, ERROR or gone: a new container is safe (nothing published)
        held = await self._rupload.held(account, ref.data["uri"])
        if held is None:
            return None
        if held >= size:
            return self._result(RemoteRef(CONTAINER, {**ref.data, "sent": "1"}), size, size)
        return held

    # -- status ---------------------------------------------------------------------------

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where a saved container stands (see the module docstring)."""
        if ref.kind != CONTAINER:
            return RemoteStatus(RemotePhase.NOT_FOUND)
        cid = ref.data["id"]
        state = await self._remote.container(account, cid)
        if state.code == "PUBLISHED":
            return await self._published(account, ref)
        if state.code == "ERROR":
            return RemoteStatus(RemotePhase.FAILED, remote_id=cid, reason=state.text or "ERROR")
        if state.code == "FINISHED":
            if ref.data.get("publish_sent"):  # the container may lag behind the publish
                found = await self._remote.find_media(account, ref)
                if found is not None:
                    return RemoteStatus(
                        RemotePhase.PUBLISHED, remote_id=found.id, url=found.permalink
                    )
            return RemoteStatus(RemotePhase.READY, remote_id=cid)
        if state.code in ("EXPIRED", None) and ref.data.get("publish_sent"):
            # A publish went out: the Reel may exist whatever the container says now.
            found = await self._remote.find_media(account, ref)
            if found is not None:
                return RemoteStatus(RemotePhase.PUBLISHED, remote_id=found.id, url=found.permalink)
        if state.code == "EXPIRED":
            if ref.data.get("sent"):  # ready to be published again, from a new container
                return RemoteStatus(RemotePhase.READY, remote_id=cid, reason=state.text)
            return RemoteStatus(RemotePhase.NOT_FOUND, remote_id=cid, reason=state.text)
        if state.code is None:
            return RemoteStatus(RemotePhase.NOT_FOUND, remote_id=cid)
        if ref.data.get("sent"):
            return RemoteStatus(RemotePhase.PROCESSING, remote_id=cid)
        if ref.data.get(RENEWAL):  # made by publish, cut off: the next publish finishes it
            return RemoteStatus(RemotePhase.READY, remote_id=cid)
        held = await self._rupload.held(account, ref.data["uri"])
        if held is None:
            return RemoteStatus(RemotePhase.NOT_FOUND, remote_id=cid)
        if held < int(ref.data["size"]):
            return RemoteStatus(RemotePhase.UPLOADING, offset=held, remote_id=cid)
        return RemoteStatus(RemotePhase.PROCESSING, remote_id=cid)

    async def _published(self, account: str, ref: RemoteRef) -> RemoteStatus:
        media_id = ref.data.get("media_id")
        if media_id:
            url = await self._remote.permalink(account, media_id)
            return RemoteStatus(RemotePhase.PUBLISHED, remote_id=media_id, url=url)
        found = await self._remote.find_media(account, ref)
        if found is None:  # published, but not (yet) listed: the container's word is enough
            return RemoteStatus(RemotePhase.PUBLISHED, remote_id=None)
        return RemoteStatus(RemotePhase.PUBLISHED, remote_id=found.id, url=found.permalink)

    # -- publish --------------------------------------------------------------------------

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """``media_publish`` once the cap allows; an expired container is made again first."""
        account, ig_user = request.account, ref.data["ig_user"]
        await self._remote.check_cap(account, ig_user)
        state = await self._remote.container(account, ref.data["id"])
        if state.code == "PUBLISHED":  # status said READY a moment ago; trust the container
            return await self._already(request, ref)
        if ref.data.get("publish_sent"):  # sent before: the Reel may exist, whatever is said
            found = await self._remote.find_media(account, ref)
            if found is not None:
                return self._found(request, ref, found)
            if state.code is None:  # gone, and not in recent media: nothing proves either way
                raise self._gone(ref)
        if state.code in ("EXPIRED", None):  # never published (Meta's word, or never sent)
            ref = await self._renew(request, save_ref, None)
        elif state.code == "IN_PROGRESS" and ref.data.get(RENEWAL) and not ref.data.get("sent"):
            ref = await self._renew(request, save_ref, ref)  # a renewal cut off mid-upload
        elif state.code != "FINISHED":
            raise TransientError(
                f"container {ref.data['id']} is {state.code}, not FINISHED; publishing later",
                platform=NAME,
                code=str(state.code),
            )
        before = ref.data.get("before")  # kept from the first publish: ours comes after it
        if before is None:
            before = await self._remote.newest(account, ig_user)
        sent = f"{self._clock.now().timestamp():.3f}"
        ref = RemoteRef(CONTAINER, {**ref.data, "publish_sent": sent, "before": before})
        await save_ref(ref)  # from here on, status looks for the media before saying READY
        try:
            media_id = await self._media_publish(account, ig_user, ref.data["id"])
        except PermanentError:
            # A container publishes once: refused because it already was (an earlier answer
            # lost, every read lagging) is that Reel, not a failure.
            if (await self._remote.container(account, ref.data["id"])).code == "PUBLISHED":
                return await self._already(request, ref)
            raise
        url = await self._remote.permalink(account, media_id)
        done = RemoteRef(CONTAINER, {**ref.data, "media_id": media_id})
        return UploadResult(media_id, url, request.size, processing=False, ref=done)

    async def _media_publish(self, account: str, ig_user: str, container_id: str) -> str:
        url = f"{self._graph}/{ig_user}/media_publish"
        resp = await self._tokens.send(
            account,
            "media_publish",
            lambda token: self._http.post(
                url,
                params={"creation_id": container_id},
                headers={"Authorization": f"Bearer {token}"},
            ),
        )
        media_id = json_body(resp).get("id")
        if resp.status_code == 200 and media_id:
            return str(media_id)
        err = GraphError.of(resp)
        if err is not None and err.pair() == CAP:
            try:
                limit = await self._remote.limit(account, ig_user)
            except ProviderError:
                limit = None  # the cap is known; only its window is not
            raise await self._remote.capped(account, ig_user, limit)
        raise self._remote.error(resp, "media_publish")

    async def _already(self, request: UploadRequest, ref: RemoteRef) -> UploadResult:
        state = await self._published(request.account, ref)
        media_id = state.remote_id or ref.data["id"]
        return UploadResult(media_id, state.url, request.size, processing=False, ref=ref)

    @staticmethod
    def _gone(ref: RemoteRef) -> OutcomeUnknown:
        return OutcomeUnknown(
            f"container {ref.data['id']} is gone after its publish was sent, and the Reel is "
            "not in the account's recent media: check Instagram, then `atroposd resolve` "
            "this post (--posted URL or --not-posted)",
            platform=NAME,
            code="containerGone",
        )

    def _found(self, request: UploadRequest, ref: RemoteRef, found: Found) -> UploadResult:
        done = RemoteRef(CONTAINER, {**ref.data, "media_id": found.id})
        return UploadResult(found.id, found.permalink, request.size, processing=False, ref=done)

    async def _renew(
        self, request: UploadRequest, save_ref: SaveRef, resume: RemoteRef | None
    ) -> RemoteRef:
        """The container expired unpublished (24 h): a new one with the same file (or the
        rest of one whose upload was cut off: ``resume``), processed.

        The new container is saved marked as a renewal before its first byte: its post is in
        ``publishing``, where the pipeline only asks ``status`` and calls ``publish``, so
        ``status`` says READY for it and the next ``publish`` sends what is missing.
        """

        async def marked(ref: RemoteRef) -> None:
            await save_ref(RemoteRef(CONTAINER, {**ref.data, RENEWAL: "1"}))

        result = await self.upload(request, resume, marked)
        assert result.ref is not None
        await save_ref(result.ref)
        delay, waited = 0.1, 0.0
        while waited < RENEW_WAIT:
            state = await self._remote.container(request.account, result.ref.data["id"])
            if state.code == "FINISHED":
                return result.ref
            if state.code != "IN_PROGRESS":
                raise PermanentError(
                    f"the new container is {state.code}: {state.text}",
                    platform=NAME,
                    code=str(state.code),
                    platform_message=state.text or None,
                )
            await asyncio.sleep(delay)
            waited, delay = waited + delay, min(delay * 2, 5.0)
        raise TransientError(
            "the new container is still processing; publishing once it is finished",
            platform=NAME,
            code="IN_PROGRESS",
        )
