"""Facebook Page Reels: the Reels Publishing API (providers.md §4).

Flow: ``POST /{page-id}/video_reels upload_phase=start`` → ``{video_id, upload_url}``, saved
(``save_ref``) before the first byte → the file goes to ``upload_url`` exactly as given
(the shared rupload client: ``offset``/``file_size`` headers, chunks, resume from what the
host holds) → the pipeline polls ``status`` until ``READY`` and records ``publishing`` →
``publish`` sends ``upload_phase=finish`` with ``video_state=PUBLISHED`` (or ``SCHEDULED`` and
``scheduled_publish_time`` for a ``publish_at``: Facebook publishes it itself; one too near to
schedule is held by ``status`` until its time) → ``status``
until the publishing phase is complete, or failed with Facebook's reason.

``finish`` is the commit (providers.md §4.6): after an ambiguous answer the pipeline asks
``status`` before anything else, and ``status`` answers ``READY`` only when the reel's own
status shows no publishing *and* the Page's recent reels do not list it as published or
scheduled. Errors go through the shared Graph classification (``providers/meta``); the Page
cap (30 reels per rolling 24 h, §4.4) is deferred until its window frees, never failed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from atroposd.captions import Counting, TextLimit
from atroposd.clock import Clock
from atroposd.errors import PermanentError, ProviderError, QuotaExhausted, TransientError
from atroposd.providers._http import json_body
from atroposd.providers.base import (
    Capabilities,
    MediaLimits,
    Progress,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    SaveRef,
    UploadRequest,
    UploadResult,
)
from atroposd.providers.facebook.pages import PageOf, PageTokens
from atroposd.providers.facebook.reels import graph_time, held_past_time, read_status, reel_url
from atroposd.providers.meta import GraphError, Rupload, classify, wait_seconds
from atroposd.providers.meta.rupload import RUPLOAD_PLAN

NAME = "facebook"
VIDEO = "facebook_video"  # ref: {video_id, upload_url, size, page_id}
CAP_CODE = 9  # the Page cap's refusal [UNSURE: Instagram's cap code; see docs/providers.md]
CAP_WINDOW = timedelta(hours=24)
MIN_FILE = 1024  # Video API 1363022: smaller than 1 KB [OFF error-codes page]
MAX_FILE = 2 * 1000**3  # Video API 1363023: larger than 2 GB (the smaller reading of "GB")
# scheduled_publish_time: 10 minutes to 30 days ahead. The Reels pages give no window; a
# published Reels tool documents these bounds and Page posts allow 6 months (schemas.apis.io
# facebook-business-manager PostCreate): the narrower window is the safe reading.
MIN_LEAD = timedelta(minutes=10)
MAX_LEAD = timedelta(days=30)
# A schedule is sent only this far beyond MIN_LEAD (our clock may run ahead of Facebook's, and
# the request takes time): at exactly 10 minutes Facebook would refuse it, a permanent error.
SEND_MARGIN = timedelta(seconds=30)
# A publish_at nearer than this is never scheduled: the reel waits (status answers PROCESSING)
# until its time and is then published, neither early nor refused. Above SEND_MARGIN, so a
# READY answer leaves time to send the schedule.
HOLD_BELOW = MIN_LEAD + timedelta(minutes=2)


class FacebookProvider:
    """Publishes Reels to each account's Facebook Page."""

    name = NAME
    capabilities = Capabilities(
        # Titles: optional and undocumented; 100 characters cut at a word is the safe reading.
        title=TextLimit(100, Counting.CHARS, word_boundary=True),
        # The Reels API documents no description limit (providers.md §4.3 [UNSURE]); the
        # widely cited Facebook post limit is 63,206 characters. The safe reading is Meta's
        # documented Reels caption limit, Instagram's 2,200, counted in UTF-16 units (never
        # fewer than characters), so a caption never meets an undocumented limit.
        description=TextLimit(2200, Counting.UTF16_UNITS),
        max_bytes=MAX_FILE,
        max_duration_s=90.0,  # 3-90 s [OFF reels-publishing]
        resumable=True,
        publish_step=True,
        schedules_natively=True,  # SCHEDULED + scheduled_publish_time; a near time held here
        concurrency=2,
        chunk_plan=RUPLOAD_PLAN,
        privacy_values=("public",),  # a Page's reels are public (providers.md §4 [OFF])
        # Reels spec (providers.md §4.3 [OFF]): H.264/H.265/VP9/AV1 4:2:0, AAC stereo, 24-60 fps,
        # 3-90 s, 540x960 minimum; no maximum resolution is documented.
        media=MediaLimits(
            containers=frozenset({"mp4", "mov"}),
            video_codecs=frozenset({"h264", "hevc", "vp9", "av1"}),
            chroma_420_only=True,
            audio_codecs=frozenset({"aac"}),
            max_audio_channels=2,
            max_fps=60.0,
            min_duration_s=3.0,
            min_fps=24.0,
            min_short_side=540,
        ),
        label="Facebook",
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        graph_root: str,
        tokens: PageTokens,
        clock: Clock,
        chunk_size: int,
        page_of: PageOf,
    ) -> None:
        self._http = http
        self._root = graph_root.rstrip("/")
        self._tokens = tokens
        self._rupload = Rupload(http, tokens, clock)
        self._clock = clock
        self._chunk = chunk_size
        self._page_of = page_of

    def _error(self, response: httpx.Response, step: str) -> ProviderError:
        return classify(NAME, response, step, self._clock.now())

    # -- local checks -------------------------------------------------------------------------

    def validate(self, request: UploadRequest) -> None:
        """Local checks before any network call (size, title, the Page id, the schedule)."""
        if request.size <= 0:
            raise PermanentError("video is empty", platform=NAME, code="1363022")
        if request.size < MIN_FILE:
            raise PermanentError("video is smaller than 1 KB", platform=NAME, code="1363022")
        if request.size > MAX_FILE:
            raise PermanentError("video is larger than 2 GB", platform=NAME, code="1363023")
        if not request.title.strip():
            raise PermanentError("title is empty", platform=NAME, code="invalidTitle")
        if request.privacy and request.privacy not in self.capabilities.privacy_values:
            raise PermanentError(
                f"privacy {request.privacy!r}: a Facebook Page's reels are always public; give "
                'facebook its own block in the sidecar ({"facebook": {"privacy": "public"}}) '
                "to post it there",
                platform=NAME,
                code="invalidPrivacy",
            )
        self._page_of(request.account)  # raises when production has no Page id
        when = request.publish_at
        if when is not None and when - self._clock.now() > MAX_LEAD:
            raise PermanentError(
                f"publish_at {when.isoformat()}: Facebook schedules a reel at most 30 days "
                "ahead; `atroposd retry` the post once that time is at most 30 days away",
                platform=NAME,
                code="scheduleTooFar",
            )

    # -- upload -------------------------------------------------------------------------------

    async def _start(self, request: UploadRequest) -> RemoteRef:
        page_id = self._page_of(request.account)
        step = "start the reel upload"
        resp = await self._tokens.send(
            request.account,
            step,
            lambda token: self._http.post(
                f"{self._root}/{page_id}/video_reels",
                data={"upload_phase": "start"},
                headers={"Authorization": f"OAuth {token}"},
            ),
        )
        body = json_body(resp)
        video_id, upload_url = body.get("video_id"), body.get("upload_url")
        if resp.status_code != 200 or not video_id or not upload_url:
            raise self._error(resp, step)
        data = {"video_id": str(video_id), "upload_url": str(upload_url)}
        if request.publish_at is not None:  # status holds the finish until its time
            data["publish_at"] = request.publish_at.isoformat()
        return RemoteRef(VIDEO, {**data, "size": str(request.size), "page_id": page_id})

    async def upload(
        self,
        request: UploadRequest,
        resume: RemoteRef | None,
        save_ref: SaveRef,
        progress: Progress | None = None,
    ) -> UploadResult:
        """Start (or resume) the reel and send what the upload host does not hold yet."""
        ref, offset = None, 0
        if resume is not None and resume.kind == VIDEO:
            now = await self._video_status(request.account, resume)
            gone = (RemotePhase.NOT_FOUND, RemotePhase.FAILED, RemotePhase.EXPIRED)
            if now.phase not in gone:
                ref, offset = resume, now.offset  # a failed reel can never be published
        if ref is None:
            ref = await self._start(request)
            await save_ref(ref)  # before the first byte
        start = offset
        if offset < request.size:
            offset = await self._rupload.send_from(
                request.account,
                ref.data["upload_url"],
                request.path,
                request.size,
                offset,
                self._chunk,
                request.identity,
                progress,
            )
        video_id = ref.data["video_id"]
        return UploadResult(
            remote_id=video_id,
            url=reel_url(video_id),
            bytes_sent=request.size,
            processing=True,
            ref=ref,
            resumed_from=start,
        )

    # -- status -------------------------------------------------------------------------------

    async def _video_status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        video_id = ref.data["video_id"]
        step = "read the reel's status"
        resp = await self._tokens.send(
            account,
            step,
            lambda token: self._http.get(
                f"{self._root}/{video_id}",
                params={"fields": "status"},
                headers={"Authorization": f"OAuth {token}"},
            ),
        )
        if resp.status_code == 200:
            size = int(ref.data.get("size") or 0)
            now, planned = self._clock.now(), _planned(ref)
            return read_status(video_id, json_body(resp), size, now, planned)
        err = GraphError.of(resp)
        if resp.status_code == 404 or (err is not None and err.pair() == (100, 33)):
            return RemoteStatus(RemotePhase.NOT_FOUND, remote_id=video_id)
        raise self._error(resp, step)

    async def _listed(self, account: str, ref: RemoteRef) -> RemotePhase | None:
        """How the Page's recent reels show this one: ``PUBLISHED`` (published, or scheduled
        ahead), ``PROCESSING`` (still scheduled after its time), None (not listed)."""
        page_id, video_id = ref.data["page_id"], ref.data["video_id"]
        step = "list the Page's reels"
        resp = await self._tokens.send(
            account,
            step,
            lambda token: self._http.get(
                f"{self._root}/{page_id}/video_reels",
                params={"fields": "id,published,scheduled_publish_time", "limit": "50"},
                headers={"Authorization": f"OAuth {token}"},
            ),
        )
        if resp.status_code != 200:
            raise self._error(resp, step)
        items = json_body(resp).get("data")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and str(item.get("id")) == video_id:
                return self._listing(item, ref)
        return None

    def _listing(self, item: dict[str, Any], ref: RemoteRef) -> RemotePhase | None:
        if item.get("published") is True:
            return RemotePhase.PUBLISHED
        raw = item.get("scheduled_publish_time")
        if not raw:
            return None
        when = graph_time(raw) or _planned(ref)
        held = held_past_time(when, self._clock.now())
        return RemotePhase.PROCESSING if held else RemotePhase.PUBLISHED

    async def status(self, account: str, ref: RemoteRef) -> RemoteStatus:
        """Where the reel stands; ``READY`` only when Facebook shows no publish of it at all."""
        if ref.kind != VIDEO:
            return RemoteStatus(RemotePhase.NOT_FOUND)
        now = await self._video_status(account, ref)
        unfinished = (RemotePhase.READY, RemotePhase.EXPIRED)
        listed = await self._listed(account, ref) if now.phase in unfinished else None
        if listed is not None:  # Facebook took a finish: never READY (nor EXPIRED) again
            video_id = ref.data["video_id"]
            return RemoteStatus(listed, offset=now.offset, remote_id=video_id, url=now.url)
        if now.phase is RemotePhase.READY and self._held(ref.data.get("publish_at")):
            # Too near to schedule: ``finish`` waits for the publish_at (never goes out early).
            return RemoteStatus(RemotePhase.PROCESSING, offset=now.offset, remote_id=now.remote_id)
        return now

    def _held(self, publish_at: str | None) -> bool:
        """A publish_at still ahead but too near for Facebook to schedule it."""
        if not publish_at:
            return False
        lead = datetime.fromisoformat(publish_at) - self._clock.now()
        return timedelta(0) < lead < HOLD_BELOW

    # -- publish (the commit) -----------------------------------------------------------------

    def _finish_params(self, request: UploadRequest, video_id: str) -> dict[str, str]:
        params = {
            "upload_phase": "finish",
            "video_id": video_id,
            "video_state": "PUBLISHED",
            "description": request.description,
            "title": request.title,
        }
        when = request.publish_at
        lead = when - self._clock.now() if when is not None else timedelta(0)
        if when is not None and lead >= MIN_LEAD + SEND_MARGIN:
            # Facebook publishes it at that time.
            params["video_state"] = "SCHEDULED"
            params["scheduled_publish_time"] = str(int(when.timestamp()))
        elif lead > timedelta(0):
            # Too near for Facebook to schedule and not yet due (``status`` holds such a reel
            # until its time; this is the rare race around that bound): never early.
            raise TransientError(
                f"publish_at {when.isoformat() if when else ''} is {int(lead.total_seconds())} s "
                "away, too near for Facebook to schedule: the reel is published at that time",
                platform=NAME,
                code="publishAtNear",
                retry_after=lead.total_seconds(),
            )
        return params  # no publish_at, or its time has come: published now

    def _capped(self, resp: httpx.Response, step: str) -> QuotaExhausted:
        """The Page's 30 reels in 24 h are used: wait until the window frees (the usage
        headers' regain time; else a whole window, the worst case)."""
        now = self._clock.now()
        wait = wait_seconds(resp, now)
        until: datetime = now + (timedelta(seconds=wait) if wait else CAP_WINDOW)
        base = self._error(resp, step)
        return QuotaExhausted(
            f"{str(base).rstrip('.')}; the Page's reels cap is reached, waiting until it frees",
            retry_at=until,
            platform=NAME,
            code=base.code,
            platform_message=base.platform_message,
            status=resp.status_code,
        )

    async def publish(
        self, request: UploadRequest, ref: RemoteRef, save_ref: SaveRef
    ) -> UploadResult:
        """``upload_phase=finish``: the reel goes live (or is scheduled) on the Page."""
        page_id, video_id = ref.data["page_id"], ref.data["video_id"]
        params = self._finish_params(request, video_id)
        step = "finish (publish) the reel"
        resp = await self._tokens.send(
            request.account,
            step,
            lambda token: self._http.post(
                f"{self._root}/{page_id}/video_reels",
                data=params,
                headers={"Authorization": f"OAuth {token}"},
            ),
        )
        body: dict[str, Any] = json_body(resp)
        if resp.status_code == 200 and body.get("success") is True:
            return UploadResult(
                remote_id=video_id,
                url=reel_url(video_id),
                bytes_sent=request.size,
                processing=True,
                ref=ref,
            )
        err = GraphError.of(resp)
        if err is not None and err.code == CAP_CODE:
            raise self._capped(resp, step)
        if resp.status_code == 200:  # no clear yes: the pipeline asks status before anything
            raise TransientError(f"{step}: answered without success", platform=NAME, status=200)
        raise self._error(resp, step)


def _planned(ref: RemoteRef) -> datetime | None:
    """The publish time the reel was started with (saved in its handle), if any."""
    raw = ref.data.get("publish_at")
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None
