"""X API v2: chunked media upload, then the post as the pipeline's publish step (§7).

Flow: ``initialize`` (the handle saved before the first segment) -> ``append`` segments
(multipart, ≤ 4 MiB, ``segment_index`` from 0; the handle saved after each confirmed one)
-> ``finalize`` -> the pipeline polls ``status`` (STATUS, honouring ``check_after_secs``)
until ``READY`` -> ``publish`` = ``POST /2/tweets`` with the media id and the text.

``POST /2/tweets`` is the commit and has no idempotency key: its handle is marked
``post_sent`` before it goes out; once marked, ``status`` reads the account's posts since
then (all pages) for one carrying this media, and answers ``READY`` only when none does and
``SETTLE`` has passed since the post went out (a timeline may not show a new post at once);
a 403 "duplicate content" to a publish looks there too. A media X no longer knows
(expired, ~24 h) is ``NOT_FOUND`` while uploading (a resume starts over) and ``EXPIRED``
once finalized and not posted (the pipeline uploads it again, ADR 0012).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from atroposd.captions import Counting, TextLimit, measure
from atroposd.clock import Clock
from atroposd.errors import ConfigError, OutcomeUnknown, PermanentError
from atroposd.providers._http import json_body
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
from atroposd.providers.chunks import X_PLAN
from atroposd.providers.spec import PlatformSpec
from atroposd.providers.x.account import STANDARD_LIMIT, XAccount
from atroposd.providers.x.auth import MODES, OAUTH1, OAUTH2, XApp, XAuth
from atroposd.providers.x.errors import NAME, POST_STEP, Limits, is_duplicate
from atroposd.providers.x.media import MEDIA, XApi, post_url, segments, stamp

MAX_BYTES = 512 * 1024 * 1024  # tweet_video/amplify_video (providers.md §7.4)
# After a post went out without a clear answer, how long a timeline without it is not yet
# taken as "not posted": X's timelines are eventually consistent (a new post may be missing
# from the first reads). The publish waits this long before it may be sent again.
SETTLE = timedelta(seconds=60)


@dataclass(frozen=True)
class XEndpoints:
    """X's API host; a setting, so any compatible server can stand in."""

    api_base: str

    @classmethod
    def production(cls) -> XEndpoints:
        """X's real host."""
        return cls("https://api.x.com")

    @classmethod
    def sandbox(cls, base: str) -> XEndpoints:
        """The real paths under ``<base>/x``."""
        return cls(f"{base.rstrip('/')}/x")


class XProvider:
    """Posts videos to X through the v2 media upload and ``POST /2/tweets``."""

    name = NAME
    capabilities = Capabilities(
        title=None,
        # 280 weighted characters as twitter-text counts them (URLs 23, CJK/emoji 2); an
        # account's ``max_weighted_length`` is checked in ``validate``.
        description=TextLimit(STANDARD_LIMIT, Counting.X_WEIGHTED),
        max_bytes=MAX_BYTES,
        max_duration_s=140.0,
        resumable=True,
        publish_step=True,
        concurrency=2,
        chunk_plan=X_PLAN,
        # providers.md §7.4 [OFF]: MP4/MOV, H.264 4:2:0 8-bit, AAC mono/stereo, 1280x1024 at
        # most (720x1280 recommended for portrait: either orientation), <= 60 fps, 1:3-3:1.
        media=MediaLimits(
            containers=frozenset({"mp4", "mov"}),
            video_codecs=frozenset({"h264"}),
            max_bit_depth=8,
            chroma_420_only=True,
            audio_codecs=frozenset({"aac"}),
            max_audio_channels=2,
            max_long_side=1280,
            max_short_side=1024,
            min_aspect=1 / 3,
            max_aspect=3.0,
            max_fps=60.0,
            min_duration_s=0.5,
            aac_lc_only=True,  # "AAC-LC (HE-AAC not supported)"
        ),
        label="X",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoints: XEndpoints,
        credentials: CredentialStore,
        app: XApp,
        clock: Clock,
        chunk_size: int,
        default_auth: str = OAUTH2,
        sandbox: bool = False,
        account_id: Callable[[str], str | None] = lambda account: None,
    ) -> None:
        self._clock = clock
        self._chunk = chunk_size
        self._default_auth = default_auth
        self._account_id = account_id  # the configured numeric user id, if any
        self._app = app
        self.auth = XAuth(http, endpoints.api_base, app, credentials, clock, sandbox)
        self.api = XApi(self.auth, endpoints.api_base, Limits.empty(), clock.now)
        self._next_check: dict[str, datetime] = {}  # media id -> not before (check_after_secs)

    def _mode(self, request: UploadRequest) -> str:
        chosen = request.options.get("auth") or self._default_auth
        return str(chosen) if chosen in MODES else self._default_auth

    # -- contract -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call."""
        if request.size <= 0:
            raise PermanentError("video is empty", platform=NAME, code="empty-file")
        if request.size > MAX_BYTES:
            raise PermanentError("video is larger than 512 MB", platform=NAME, code="too-large")
        self._check_app_keys(request)
        limit = int(str(request.options.get("max_weighted_length") or STANDARD_LIMIT))
        weighted = measure(request.description, Counting.X_WEIGHTED)
        if weighted > limit:
            raise PermanentError(
                f"the post text weighs {weighted} characters as X counts them; the limit is "
                f"{limit}",
                platform=NAME,
                code="text-too-long",
            )

    def _check_app_keys(self, request: UploadRequest) -> None:
        """The app's keys for the account's user context (``build`` checks X_AUTH's only)."""
        mode = self._mode(request)
        app = self._app
        keys = (
            {"X_CONSUMER_KEY": app.consumer_key, "X_CONSUMER_SECRET": app.consumer_secret}
            if mode == OAUTH1
            else {"X_CLIENT_ID": app.client_id, "X_CLIENT_SECRET": app.client_secret}
        )
        missing = [name for name, value in keys.items() if not value]
        if missing:
            raise PermanentError(
                f".env: {', '.join(missing)} not set, and account {request.account!r} posts to "
                f'X with "auth": "{mode}" (upload_config.json): add the keys of your app from '
                "the X developer console, restart, then `atroposd retry`",
                platform=NAME,
                code="missing-app-keys",
            )

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Initialize (or resume) the media, append the segments not confirmed, finalize."""
        ref = await self._resumable(request, resume)
        if ref is not None and ref.data.get("finalized"):
            return self._uploaded(request, ref, request.size)
        if ref is None:
            segment = X_PLAN.chunk_size(request.size, self._chunk)
            ref = await self.api.initialize(request, self._mode(request), segment)
            await save_ref(ref)  # before the first segment
        done = int(ref.data["segments"])
        pieces = segments(request.size, int(ref.data["segment"]))
        start = pieces[done].offset if done < len(pieces) else request.size
        for chunk in pieces[done:]:
            await self.api.append(request, ref, chunk)
            ref = RemoteRef(MEDIA, {**ref.data, "segments": str(chunk.index + 1)})
            await save_ref(ref)
            if progress:
                progress(chunk.end, request.size)
        data = await self.api.finalize(request.account, ref)
        ref = RemoteRef(MEDIA, {**ref.data, "finalized": stamp(self._clock.now())})
        await save_ref(ref)
        self._remember_check(ref, data)
        return self._uploaded(request, ref, start)

    async def _resumable(
        self, request: UploadRequest, resume: RemoteRef | None
    ) -> RemoteRef | None:
        """The saved media when X still holds it (marked finalized if it is), else None."""
        if resume is None or resume.kind != MEDIA:
            return None
        data = await self.api.media_status(request.account, resume)
        if data is None:
            return None  # expired or unknown: never postable, so starting over is safe
        if data.get("processing_info") and not resume.data.get("finalized"):
            return RemoteRef(MEDIA, {**resume.data, "finalized": stamp(self._clock.now())})
        return resume

    def _uploaded(self, request: UploadRequest, ref: RemoteRef, start: int) -> UploadResult:
        return UploadResult(
            remote_id=ref.data["media_id"],
            url=None,
            bytes_sent=request.size,
            processing=True,
            ref=ref,
            resumed_from=start,
        )

    def _remember_check(self, ref: RemoteRef, data: dict[str, object]) -> None:
        info = data.get("processing_info")
        wait = info.get("check_after_secs") if isinstance(info, dict) else None
        if isinstance(wait, int | float) and wait > 0:
            when = self._clock.now() + timedelta(seconds=float(wait))
            self._next_check[ref.data["media_id"]] = when

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where the media and its post stand; READY only when no post carries the media."""
        if ref.kind != MEDIA:
            return RemoteStatus(RemotePhase.NOT_FOUND)
        if ref.data.get("post_id"):
            post = ref.data["post_id"]
            return RemoteStatus(RemotePhase.PUBLISHED, remote_id=post, url=post_url(post))
        due = self._next_check.get(ref.data["media_id"])
        if due is not None and self._clock.now() < due and ref.data.get("finalized"):
            return RemoteStatus(RemotePhase.PROCESSING)  # X said when to ask again
        data = await self.api.media_status(account, ref)
        if data is None:
            return await self._gone(account, ref)
        info = data.get("processing_info")
        if not isinstance(info, dict):
            if not ref.data.get("finalized"):
                done = int(ref.data["segments"]) * int(ref.data["segment"])
                return RemoteStatus(RemotePhase.UPLOADING, offset=min(done, int(ref.data["size"])))
            info = {"state": "succeeded"}  # finalized without processing: ready at once
        return await self._processed(account, ref, data, info)

    async def _processed(
        self, account: str, ref: RemoteRef, data: dict[str, object], info: dict[str, object]
    ) -> RemoteStatus:
        state = str(info.get("state") or "")
        if state in ("failed", "succeeded"):
            self._next_check.pop(ref.data["media_id"], None)  # processing is over
        if state == "failed":
            # v1.1 documented ``error {code, name, message}`` (developer.x.com, GET media/upload
            # (STATUS), "failed response"); v2's OpenAPI (2.167) lists no error object: both read.
            error = info.get("error")
            why = (
                f"{error.get('name', 'InvalidMedia')}: {error.get('message', '')}"
                if isinstance(error, dict)
                else "processing failed"
            )
            return RemoteStatus(RemotePhase.FAILED, reason=f"X could not process the video ({why})")
        if state != "succeeded":
            self._remember_check(ref, data)
            return RemoteStatus(RemotePhase.PROCESSING)
        if not ref.data.get("post_sent"):
            return RemoteStatus(RemotePhase.READY)  # publish marks the handle before it sends
        return await self._sent(account, ref) or RemoteStatus(RemotePhase.READY)

    async def _sent(self, account: str, ref: RemoteRef) -> RemoteStatus | None:
        """A post was sent with this media: PUBLISHED when the timeline shows it, PROCESSING
        while the timeline may not show it yet (``SETTLE`` after sending), else None."""
        post = await self.api.find_post(account, ref, self._account_id(account))
        if post is not None:
            return RemoteStatus(RemotePhase.PUBLISHED, remote_id=post, url=post_url(post))
        sent = datetime.fromisoformat(ref.data["post_sent"])
        if self._clock.now() - sent < SETTLE:
            return RemoteStatus(RemotePhase.PROCESSING)
        return None

    async def _gone(self, account: str, ref: RemoteRef) -> RemoteStatus:
        if not ref.data.get("finalized"):
            return RemoteStatus(RemotePhase.NOT_FOUND)
        if ref.data.get("post_sent"):
            found = await self._sent(account, ref)
            if found is not None:
                return found
        # X no longer knows the media and no post came from it (none was sent, or every post
        # since the send was read): the pipeline uploads again (ADR 0012).
        return RemoteStatus(
            RemotePhase.EXPIRED, reason="the media expired on X before it was posted"
        )

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """``POST /2/tweets`` with the media and the text; marked as sent before it goes."""
        account, mode = request.account, ref.data["auth"]
        self.api.limits.check(account, POST_STEP, self._clock.now())  # parked, not sent
        sent = RemoteRef(
            MEDIA, {**ref.data, "post_sent": stamp(self._clock.now()), "text": request.description}
        )
        await save_ref(sent)
        body = {"text": request.description, "media": {"media_ids": [ref.data["media_id"]]}}
        resp = await self.api.send_post(account, mode, body)
        if resp.status_code == 201:
            post = str((json_body(resp).get("data") or {}).get("id") or "")
        elif is_duplicate(resp):
            post = ""  # refused as a second post of this text: is the first one ours?
        else:
            raise self.api.error(resp, "POST /2/tweets", POST_STEP, mode)
        if not post:
            post = await self._posted_anyway(account, sent, resp)
        done = RemoteRef(MEDIA, {**sent.data, "post_id": post})
        return UploadResult(post, post_url(post), request.size, processing=False, ref=done)

    async def _posted_anyway(self, account: str, sent: RemoteRef, resp: httpx.Response) -> str:
        """After a duplicate refusal (or a 201 without an id): our post in the timeline."""
        found = await self.api.find_post(account, sent, self._account_id(account))
        if found:
            return found
        if resp.status_code == 403:
            why = (
                "X refused the post as a duplicate of a recent one with the same text, and no "
                "recent post of the account carries this video: if another clip went out with "
                'this text, give this one its own (sidecar {"x": {"text": "…"}}) and retry; '
                "else check the account, then `atroposd resolve`"
            )
        else:
            why = (
                "POST /2/tweets was accepted without a post id, and no recent post of the "
                "account carries this video; check the account, then `atroposd resolve`"
            )
        raise OutcomeUnknown(
            why,
            platform=NAME,
            code="duplicate" if resp.status_code == 403 else "no-id",
            status=resp.status_code,
        )


SPEC = PlatformSpec(
    account=XAccount,
    secrets=("X_CLIENT_ID", "X_CLIENT_SECRET", "X_CONSUMER_KEY", "X_CONSUMER_SECRET"),
    settings=("X_API_BASE", "X_AUTH"),
    id_field="user_id",
)


def build(ctx: ProviderContext) -> XProvider:
    """The registry's factory: endpoints from settings, sandbox defaults, app secrets."""
    base = XEndpoints.sandbox(ctx.sandbox_url) if ctx.sandbox else XEndpoints.production()
    endpoints = XEndpoints(ctx.override("X_API_BASE") or base.api_base)
    mode = ctx.override("X_AUTH") or OAUTH2
    if mode not in MODES:
        raise ConfigError(f".env: X_AUTH={mode!r}: must be oauth1 or oauth2")
    names = ("X_CLIENT_ID", "X_CLIENT_SECRET", "X_CONSUMER_KEY", "X_CONSUMER_SECRET")
    stand_ins = (
        "sandbox-client-id",
        "sandbox-client-secret",
        "sandbox-consumer-key",
        "sandbox-consumer-secret",
    )
    values = [
        ctx.secret(n) or (s if ctx.sandbox else "") for n, s in zip(names, stand_ins, strict=True)
    ]
    _check_keys(dict(zip(names, values, strict=True)), mode, ctx.accounts(NAME))
    app = XApp(*values)
    return XProvider(
        ctx.http,
        endpoints,
        ctx.credentials,
        app,
        ctx.clock,
        ctx.chunk_size,
        mode,
        ctx.sandbox,
        lambda account: ctx.account_id(NAME, account),
    )


def _check_keys(
    values: dict[str, str], mode: str, accounts: Mapping[str, Mapping[str, object]]
) -> None:
    """The app keys each account's user context needs (its ``auth``, else X_AUTH), and only
    those; with no account known (nothing configured yet), X_AUTH's."""
    chosen = {a: str(c.get("auth") or mode) for a, c in accounts.items()} or {"": mode}
    lines = []
    for account, auth in sorted(chosen.items()):
        needed = _KEYS.get(auth, _KEYS[mode])
        missing = [n for n in needed if not values[n]]
        if not missing:
            continue
        who = (
            f"account {account!r} posts to X with "
            + (f'"auth": "{auth}" (upload_config.json)' if auth != mode else f"X_AUTH={mode}")
            if account
            else f"x is enabled with X_AUTH={mode}"
        )
        lines.append(
            f".env: {', '.join(missing)}: required in production: {who} "
            "(the keys of your app in the X developer console)"
        )
    if lines:
        raise ConfigError("\n".join(lines))


_KEYS = {
    OAUTH2: ("X_CLIENT_ID", "X_CLIENT_SECRET"),
    OAUTH1: ("X_CONSUMER_KEY", "X_CONSUMER_SECRET"),
}
