"""Snapchat Public Profile API: encrypted multipart media, then a Spotlight or Story post.

Flow (providers.md §6.2): a fresh AES-256-CBC key and IV per media, saved in the handle
*before* ``create media`` (ADR 0003) -> ``POST .../media`` (media id, ``add_path``,
``finalize_path`` saved before the first part, followed as given) -> multipart ``ADD`` of
each encrypted part (<= 32 MiB, the handle saved after each acknowledged one) ->
``FINALIZE`` -> ``status`` polls the media until READY -> the pipeline's ``publish`` posts
it to Spotlight (description <= 160 characters) or the Story, per the account's choice.

The Spotlight/Story POST is the commit (§6.6). The handle records that it was sent before
it goes; ``status`` answers from Snap's own lists of the profile's Spotlights and Stories
(an item made from this media id means PUBLISHED), so an ambiguous answer never turns into
a second post. A second POST of the same media meets Snap's own guard
(``MEDIA_POSTING_ALREADY_IN_PROGRESS``), which is checked against the lists and otherwise
waits for a human (``OutcomeUnknown``), never retried blind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from atroposd.captions import Counting, TextLimit, measure
from atroposd.clock import Clock
from atroposd.errors import OutcomeUnknown, PermanentError, ProviderError
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import (
    Capabilities,
    CredentialStore,
    MediaLimits,
    Progress,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    SaveRef,
    UploadRequest,
    UploadResult,
)
from atroposd.providers.chunks import SNAPCHAT_PLAN
from atroposd.providers.encryption import CbcKey, ciphertext_size
from atroposd.providers.snapchat.api import Posted, SnapApi
from atroposd.providers.snapchat.errors import IN_PROGRESS, NAME, classify
from atroposd.providers.snapchat.parts import MEDIA, acked, send_parts

DESCRIPTION = TextLimit(160, Counting.CHARS)  # Spotlight, hashtags included [3P, consistent]
MAX_BYTES = 1024**3  # 35 parts of <= 32 MB: "1 GB" [3P]; aggregators say 500 MB [UNSURE]
SENT = "publish_sent"  # in the handle: the Spotlight/Story POST may have reached Snap
ACCEPTED = "publish_accepted"  # in the handle: Snap answered the POST with SUCCESS
CHECK = (
    "check the profile's Spotlight/Story, then `atroposd resolve ID --posted URL` or `--not-posted`"
)
ProfileOf = Callable[[str], str | None]


def post_url(posted: Posted) -> str | None:
    """Where a post can be seen: Spotlights have a page; Stories live on the profile."""
    return f"https://www.snapchat.com/spotlight/{posted.id}" if posted.kind == "spotlight" else None


class SnapchatProvider:
    """Posts to a Snapchat Public Profile's Spotlight or Story."""

    name = NAME
    capabilities = Capabilities(
        title=TextLimit(100, Counting.CHARS),  # the media's "human readable name"
        description=DESCRIPTION,
        max_bytes=MAX_BYTES,
        max_duration_s=60.0,
        resumable=True,
        publish_step=True,
        concurrency=2,
        chunk_plan=SNAPCHAT_PLAN,
        # providers.md §6.3 [3P/UNSURE]: MP4, 5-60 s, 1080x1920 recommended (540x960 least); the
        # codec is not documented: H.264 8-bit 4:2:0 + AAC, the safe reading.
        media=MediaLimits(
            containers=frozenset({"mp4"}),
            video_codecs=frozenset({"h264"}),
            max_bit_depth=8,
            chroma_420_only=True,
            audio_codecs=frozenset({"aac"}),
            max_audio_channels=2,
            max_long_side=1920,
            max_short_side=1080,
            max_fps=60.0,
            min_duration_s=5.0,
            min_short_side=540,
        ),
        label="Snapchat",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        api_base: str,
        credentials: CredentialStore,
        client: tuple[str, str],
        clock: Clock,
        part_size: int,
        profile_of: ProfileOf,
    ) -> None:
        self._clock = clock
        self._part = SNAPCHAT_PLAN.fit(part_size)  # a preference, clamped to <= 32 MiB
        self._profile_of = profile_of
        self._profiles: dict[str, str] = {}  # sandbox: the account's own, asked once
        auth = OAuth2Tokens(
            http,
            TokenEndpoint(NAME, token_url, client[0], client[1]),
            credentials,
            clock,
            classify=lambda resp, step: classify(resp, step, clock.now()),
        )
        self.api = SnapApi(http, api_base, auth, clock)

    # -- contract -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call."""
        if request.size <= 0:
            raise PermanentError("video is empty", platform=NAME, code="EMPTY_FILE")
        if request.size > MAX_BYTES:
            raise PermanentError(
                "video is larger than 1 GiB (Snap takes at most 35 encrypted parts of 32 MB)",
                platform=NAME,
                code="FILE_TOO_LARGE",
            )
        if not request.title.strip():
            raise PermanentError("the media name (title) is empty", platform=NAME, code="NO_NAME")
        publish_to = str(request.options.get("publish_to", "spotlight"))
        if publish_to not in ("spotlight", "story"):
            raise PermanentError(
                f"publish_to {publish_to!r} is not 'spotlight' or 'story'",
                platform=NAME,
                code="BAD_PUBLISH_TO",
            )
        length = measure(request.description, DESCRIPTION.counting)
        if publish_to == "spotlight" and length > DESCRIPTION.max_length:
            raise PermanentError(
                f"Spotlight description is {length} characters; Snap takes at most "
                f"{DESCRIPTION.max_length}, hashtags included",
                platform=NAME,
                code="DESCRIPTION_TOO_LONG",
            )

    async def _profile(self, account: str) -> str:
        configured = self._profile_of(account)
        if configured:
            return configured
        if account not in self._profiles:  # sandbox stand-in: the token's own profile
            found = await self.api.my_profile(account)
            if not found:
                raise PermanentError(
                    f"no Snapchat profile id for account {account!r}: set "
                    "platforms.snapchat.profile_id (or SNAPCHAT_PROFILE_ID)",
                    platform=NAME,
                    code="NO_PROFILE",
                )
            self._profiles[account] = found
        return self._profiles[account]

    async def _create(
        self, request: UploadRequest, old: RemoteRef | None, save_ref: SaveRef
    ) -> RemoteRef:
        """A media container; the key and IV are saved before Snap ever sees them."""
        keep = old is not None and not old.data.get("media_id") and "key" in old.data
        key = CbcKey.from_ref(old.data) if keep and old is not None else CbcKey.generate()
        total = ciphertext_size(request.size)
        data = {
            "profile_id": await self._profile(request.account),
            "size": str(request.size),
            "part_size": str(SNAPCHAT_PLAN.chunk_size(total, self._part)),
            "publish_to": str(request.options.get("publish_to", "spotlight")),
            **key.to_ref(),
        }
        await save_ref(RemoteRef(MEDIA, data))  # a resume re-encrypts with the same key
        made = await self.api.create_media(
            request.account, data["profile_id"], request.title, key.to_ref()
        )
        ref = RemoteRef(MEDIA, {**data, **made, "parts": "0"})
        await save_ref(ref)  # media id + the paths Snap chose, before the first part
        return ref

    def _uploaded(self, request: UploadRequest, ref: RemoteRef, start: int) -> UploadResult:
        return UploadResult(
            remote_id=ref.data["media_id"],
            url=None,
            bytes_sent=request.size,
            processing=True,
            ref=ref,
            resumed_from=min(start, request.size),
        )

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Create or resume the media, ADD the parts Snap lacks, then FINALIZE."""
        ref = resume if resume is not None and resume.kind == MEDIA else None
        if ref is not None and ref.data.get("media_id"):
            found = await self._resume(request, ref)
            if isinstance(found, UploadResult):
                return found
            ref = found
        if ref is None or not ref.data.get("media_id"):
            ref = await self._create(request, ref, save_ref)
        start = acked(ref.data)
        ref = await send_parts(self.api, request, ref, save_ref, progress)
        if not ref.data.get("finalized"):
            await self.api.finalize(request.account, ref.data["finalize_path"])
            ref = RemoteRef(MEDIA, {**ref.data, "finalized": "1"})
            await save_ref(ref)
        return self._uploaded(request, ref, start)

    async def _resume(
        self, request: UploadRequest, ref: RemoteRef
    ) -> UploadResult | RemoteRef | None:
        """Ask Snap about a saved media: go on (the handle), done (the result), or gone (None:
        a new media, unless a post of it may exist)."""
        data = ref.data
        state = await self.api.media(request.account, data["profile_id"], data["media_id"])
        if state is None:
            if data.get(SENT):
                await self._posted_or_unknown(request.account, ref)
                return self._uploaded(request, ref, request.size)
            return None  # expired or unknown and never posted: a fresh media is safe
        if state.status == "PENDING_UPLOAD":
            return ref
        return self._uploaded(request, ref, request.size)  # every part is there: never again

    async def _posted_or_unknown(self, account: str, ref: RemoteRef) -> Posted:
        data = ref.data
        first = data.get("publish_to", "spotlight")
        posted = (await self.api.find(account, data["profile_id"], data["media_id"], first)).posted
        if posted is None:
            raise OutcomeUnknown(
                "the Snapchat post was sent but its media is gone and the profile lists no "
                f"post of it; {CHECK}",
                platform=NAME,
                code="POST_UNKNOWN",
            )
        return posted

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where a saved media stands; PUBLISHED once the profile lists a post made from it."""
        data = ref.data
        if ref.kind != MEDIA or not data.get("media_id"):
            return RemoteStatus(RemotePhase.NOT_FOUND)
        state = await self.api.media(account, data["profile_id"], data["media_id"])
        if state is None:
            if data.get(ACCEPTED) and not data.get("post_id"):  # Snap said SUCCESS, no id
                found = await self.api.find(
                    account, data["profile_id"], data["media_id"], data.get("publish_to", "")
                )
                return self._published(found.posted) if found.posted else self._accepted(data)
            if data.get(SENT):
                return self._published(await self._posted_or_unknown(account, ref))
            if data.get("finalized"):  # no post was ever sent from it: upload again (ADR 0012)
                why = "the media expired on Snapchat (24 h) before it was posted"
                return RemoteStatus(RemotePhase.EXPIRED, reason=why)
            return RemoteStatus(RemotePhase.NOT_FOUND)
        if state.status == "PENDING_UPLOAD":
            offset = min(acked(data), int(data["size"]))
            return RemoteStatus(RemotePhase.UPLOADING, offset=offset)
        if state.status == "FAILED":
            return RemoteStatus(
                RemotePhase.FAILED, remote_id=data["media_id"], reason=state.reason or "FAILED"
            )
        if state.status != "READY":
            return RemoteStatus(RemotePhase.PROCESSING, remote_id=data["media_id"])
        first = data.get("publish_to", "spotlight")
        found = await self.api.find(account, data["profile_id"], data["media_id"], first)
        if found.posted is not None:
            return self._published(found.posted)
        if found.blind and data.get(ACCEPTED):  # Snap said SUCCESS; its lists cannot name it
            return self._accepted(data)
        if found.blind and data.get(SENT):
            # "Not listed" proves nothing when the lists name no media (ADR 0009), and Snap's
            # guard may only refuse a post still in progress: READY could post it twice.
            raise OutcomeUnknown(
                "the Snapchat post was sent without a clear answer, and the profile's lists "
                f"do not say which media each post was made from; {CHECK}",
                platform=NAME,
                code="POST_UNKNOWN",
            )
        return RemoteStatus(RemotePhase.READY, remote_id=data["media_id"])

    @staticmethod
    def _accepted(data: Mapping[str, str]) -> RemoteStatus:
        """Snap answered the post with SUCCESS, but no list names it (no id to show)."""
        return RemoteStatus(RemotePhase.PUBLISHED, remote_id=data.get("post_id") or None)

    @staticmethod
    def _published(posted: Posted) -> RemoteStatus:
        return RemoteStatus(RemotePhase.PUBLISHED, remote_id=posted.id, url=post_url(posted))

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """Post the ready media to Spotlight or the Story (the account's ``publish_to``)."""
        kind = str(request.options.get("publish_to", "spotlight"))
        before = ref.data
        ref = RemoteRef(MEDIA, {**ref.data, "publish_to": kind, SENT: "1"})
        await save_ref(ref)  # before the commit: ``status`` then asks the profile's lists
        data = ref.data
        doc: dict[str, object] = {"media_id": data["media_id"]}
        if kind == "spotlight":
            doc |= {
                "description": request.description,
                "locale": str(request.options.get("locale", "en_US")),
                "skip_save_to_profile": False,
            }
        try:
            post_id = await self.api.publish(request.account, data["profile_id"], kind, doc)
        except OutcomeUnknown as exc:
            if exc.code != IN_PROGRESS:
                raise
            posted = await self._posted_or_unknown(request.account, ref)
            return self._result(request, ref, posted)
        except ProviderError as exc:
            refused = exc.status is not None and 400 <= exc.status < 500 and exc.status != 408
            if not before.get(SENT) and refused:
                # Snap answered and refused (429, 400, ...): nothing was posted by this call.
                # A 408 is no answer (the request may have gone through): the mark stays.
                await save_ref(RemoteRef(MEDIA, {k: v for k, v in data.items() if k != SENT}))
            raise
        ref = RemoteRef(MEDIA, {**data, ACCEPTED: "1"})
        if not post_id:  # a Story answered with its request id only: its list tells the id
            return UploadResult(data["media_id"], None, request.size, processing=True, ref=ref)
        return self._result(request, ref, Posted(kind, post_id))

    @staticmethod
    def _result(request: UploadRequest, ref: RemoteRef, posted: Posted) -> UploadResult:
        done = RemoteRef(MEDIA, {**ref.data, "post_id": posted.id})
        return UploadResult(posted.id, post_url(posted), request.size, processing=False, ref=done)
