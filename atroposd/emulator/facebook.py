"""Facebook Page Reels under ``/facebook`` (providers.md §2, §4, §8.3).

=======  ==============================================  ==========================================
step     request (after ``/facebook``)                   answer
=======  ==============================================  ==========================================
token    POST /<ver>/oauth/access_token (or GET)         ``fb_exchange_token`` (meta.GraphTokens)
page     GET /<ver>/<page_id>?fields=access_token        a Page token for the caller's Page
start    POST /<ver>/<page_id>/video_reels               ``{video_id, upload_url}``: the upload
         ``upload_phase=start`` (form, JSON or query)    host URL is absolute, on this server
rupload  POST|GET /video-upload/<ver>/<video_id>         the upload host (meta.RuploadHost):
                                                         ``offset``/``file_size`` headers; a wrong
                                                         offset → Graph error 1363037 with
                                                         ``error_data {start_offset, end_offset}``
finish   POST /<ver>/<page_id>/video_reels               ``{"success": true}``: ``video_state``
         ``upload_phase=finish&video_id&video_state``    PUBLISHED / DRAFT / SCHEDULED (+
                                                         ``scheduled_publish_time``), upload
                                                         complete, the Page cap (code 9). Every
                                                         accepted finish is a post, a second one
                                                         too (the client must not send it twice)
status   GET /<ver>/<video_id>?fields=status             phases, see ``facebook_reels``
list     GET /<ver>/<page_id>/video_reels                the Page's reels, newest first
=======  ==============================================  ==========================================

Page endpoints and the upload host want a Page token of that Page (from the ``page`` step);
a user token there is refused with 190, as Graph does. Errors are Graph's envelope with usage
headers (``meta.py``). Unknown video ids answer 100/33 ("does not exist").

Controls (``/_emulator/facebook/...``): ``POST reels_cap {"limit", "window_seconds"?}``,
``POST clock {"advance_seconds"}``, ``POST processing_errors {"count"?, "code"?, "message"?}``
(the next reels to finish uploading fail processing), ``POST expire_reels`` (every reel not
finished yet lapses: ``video_status`` ``expired``, ``finish`` refused), ``GET reels``.

Facts taken where providers.md is unsure, the safe reading: description ≤ 63,206 characters
(Facebook's post limit; the Reels pages give none); ``scheduled_publish_time`` 10 min to 30
days ahead (a Reels tool's documented window; Page posts allow 6 months); the cap's error is
code 9 with ``estimated_time_to_regain_access`` in ``X-Business-Use-Case-Usage`` (the code is
Instagram's for its cap; Facebook's is not documented). Not emulated: the hosted ``file_url``
variant, collaborators, targeting, media checks, the non-Reel ``/videos`` fallback.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from atroposd.emulator.facebook_answers import bad_offset, capped, error, missing, params_of
from atroposd.emulator.facebook_control import control
from atroposd.emulator.facebook_reels import (
    MAX_LEAD_SECONDS,
    MIN_LEAD_SECONDS,
    FbClock,
    PageCap,
    Reel,
)
from atroposd.emulator.faults import run_step
from atroposd.emulator.meta import (
    GraphTokens,
    RuploadHost,
    bearer_of,
    graph_fault_body,
    graph_ok,
    rupload_error,
    rupload_fault_body,
    split_version,
)
from atroposd.emulator.platform import Context
from atroposd.emulator.store import PostRecord
from atroposd.emulator.wire import Request, Response

NAME = "facebook"
DESCRIPTION_MAX = 63206
VIDEO_STATES = frozenset({"PUBLISHED", "DRAFT", "SCHEDULED"})
Work = Callable[[], Awaitable[Response]]


class Facebook:
    """The emulated Facebook Pages (Reels)."""

    name = NAME
    steps = frozenset({"token", "page", "start", "rupload", "finish", "status", "list"})

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self.ctx = ctx
        self.processing_seconds = processing_seconds
        self._tokens = GraphTokens(ctx, NAME)
        self.host = RuploadHost(ctx, NAME)
        self.clock = FbClock()
        self.cap = PageCap()
        self.reels: dict[str, Reel] = {}
        self._page_tokens: dict[str, str] = {}  # Page token -> its Page id
        self.failing: list[tuple[int, str]] = []  # processing errors for the next reels

    def reset(self) -> None:
        """Forget reels, Page tokens, the cap's counts and the clock's advance."""
        self._tokens.reset()
        self.host.reset()
        self.clock = FbClock()
        self.cap.reset()
        self.reels.clear()
        self._page_tokens.clear()
        self.failing.clear()

    async def control(self, request: Request, path: str) -> Response:
        """``/_emulator/facebook/<path>``: see the module docstring."""
        return await control(self, request, path)

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its protocol step, with faults applied."""
        reels_post = request.method == "POST" and path.rstrip("/").endswith("/video_reels")
        params = await params_of(request) if reels_post else dict(request.query)
        step, work = self._route(request, path, params)
        if work is None:
            return error(400, 100, f"Unknown path components: {path}")
        body = rupload_fault_body if step == "rupload" else graph_fault_body
        return await run_step(self.ctx.faults, self.name, step, request, work, body)

    def _route(
        self, request: Request, path: str, params: dict[str, str]
    ) -> tuple[str, Work | None]:
        method = request.method
        if path.startswith("/video-upload/"):
            parts = split_version(path.removeprefix("/video-upload"))
            video_id = parts[1].strip("/") if parts else ""
            if parts and video_id.isdigit() and method in ("GET", "POST"):
                return "rupload", lambda: self._rupload(request, video_id)
            return "", None
        parts = split_version(path)
        if parts is None:
            return "", None
        version, rest = parts
        node, _, edge = rest.strip("/").partition("/")
        if (node, edge) == ("oauth", "access_token") and method in ("GET", "POST"):
            return "token", lambda: self._exchange(request)
        if edge == "video_reels" and method == "POST":
            step = "finish" if params.get("upload_phase") == "finish" else "start"
            return step, lambda: self._reels_post(request, params, node, version)
        if edge == "video_reels" and method == "GET":
            return "list", lambda: self._list(request, node)
        if node and not edge and method == "GET":
            if node in self.reels or request.query.get("fields") == "status":
                return "status", lambda: self._status(request, node)
            return "page", lambda: self._page(request, node)
        return "", None

    async def _exchange(self, request: Request) -> Response:
        return await self._tokens.exchange(request)

    # -- tokens -------------------------------------------------------------------------------

    def _page_account(self, request: Request, page_id: str) -> str | Response:
        """The account behind a Page token of ``page_id``, or Graph's refusal."""
        account = self._tokens.check(request)
        if isinstance(account, Response):
            return account
        if self._page_tokens.get(bearer_of(request) or "") != page_id:
            return error(400, 190, "(#190) This method must be called with a Page Access Token")
        return account

    async def _page(self, request: Request, page_id: str) -> Response:
        """``GET /{page_id}?fields=access_token``: any Page id the caller names is theirs."""
        account = self._tokens.check(request)
        if isinstance(account, Response):
            return account
        if not page_id.isdigit():
            return missing(page_id)
        token = self.issue_page_token(account, page_id)
        body = {"id": page_id, "name": f"{account}'s Page", "access_token": token}
        return graph_ok(body, page_id, "pages")

    def issue_page_token(self, account: str, page_id: str) -> str:
        """A Page token of ``page_id`` for ``account`` (a login's ``/me/accounts`` too)."""
        token = self._tokens.issue(account)
        self._page_tokens[token] = page_id
        return token

    # -- start / finish -----------------------------------------------------------------------

    async def _reels_post(
        self, request: Request, params: dict[str, str], page_id: str, version: str
    ) -> Response:
        account = self._page_account(request, page_id)
        if isinstance(account, Response):
            return account
        phase = params.get("upload_phase")
        if phase == "start":
            video_id = str(10**15 + secrets.randbelow(9 * 10**15))
            self.reels[video_id] = Reel(video_id, page_id, account, self.clock.now())
            self.host.open(video_id, account, "")
            base = f"{self.ctx.base_url(request)}/{NAME}/video-upload/{version}"
            body = {"video_id": video_id, "upload_url": f"{base}/{video_id}"}
            return graph_ok(body, page_id, "pages")
        if phase == "finish":
            return self._finish(params, page_id, account)
        return error(400, 100, "(#100) upload_phase must be one of start, transfer, finish")

    def _finish_refusal(self, params: dict[str, str], reel: Reel) -> Response | None:
        if reel.uploaded_at is None:
            return error(400, 100, "(#100) Video Upload Is Missing: the upload is not complete")
        state = params.get("video_state", "")
        if state not in VIDEO_STATES:
            return error(400, 100, "(#100) video_state must be PUBLISHED, DRAFT or SCHEDULED")
        if len(params.get("description", "")) > DESCRIPTION_MAX:
            return error(400, 100, "(#100) The description is too long")
        if state == "SCHEDULED":
            raw = params.get("scheduled_publish_time", "")
            lead = (int(raw) - self.clock.now()) if raw.isdigit() else -1.0
            if not MIN_LEAD_SECONDS <= lead <= MAX_LEAD_SECONDS:
                message = "(#100) The specified scheduled publish time is invalid."
                user = "Schedule the reel between 10 minutes and 30 days from now."
                return error(400, 100, message, user_msg=user)
        return None

    def _finish(self, params: dict[str, str], page_id: str, account: str) -> Response:
        reel = self.reels.get(params.get("video_id", ""))
        if reel is None or reel.page_id != page_id or reel.account != account:
            return error(400, 100, "(#100) Invalid video_id")
        if reel.expired:
            return error(400, 100, "(#100) The video has expired: upload it again")
        refusal = self._finish_refusal(params, reel)
        if refusal is not None:
            return refusal
        state, now = params["video_state"], self.clock.now()
        if state != "DRAFT":
            wait = self.cap.free_in(page_id, now)
            if wait is not None:
                return capped(page_id, wait, self.cap.limit)
            self.cap.count(page_id, now)
        self._commit(reel, params, state, now)
        return graph_ok({"success": True, "post_id": f"{page_id}_{reel.id}"}, page_id, "pages")

    def _commit(self, reel: Reel, params: dict[str, str], state: str, now: float) -> None:
        """Record an accepted finish: the reel is (to be) published, and one more post."""
        reel.state = state
        reel.finished_at = reel.finished_at or now
        reel.title = params.get("title", "")
        reel.description = params.get("description", "")
        if state == "SCHEDULED":
            reel.scheduled_at = float(params["scheduled_publish_time"])
        if state == "DRAFT" or reel.processing_error is not None:
            return  # a draft, or a reel whose processing fails: nothing goes live
        if not reel.posts:  # the stored bytes become the post
            reel.posts.append(self.host.finish(reel.id, reel.id, reel.description, reel.title))
            return
        first = reel.posts[0]  # finished again: a second post of the same bytes
        again = PostRecord(
            NAME,
            reel.id,
            reel.account,
            reel.title,
            reel.description,
            first.bytes,
            first.sha256,
            datetime.now(UTC),
        )
        self.ctx.store.posts.append(again)
        reel.posts.append(again)

    # -- upload host, status, listing ---------------------------------------------------------

    def _visible(self, video_id: str, account: str) -> Reel | None:
        """The account's reel, unless unknown or dropped (``expire_uploads``) before its end."""
        reel = self.reels.get(video_id)
        if reel is None or reel.account != account:
            return None
        if reel.uploaded_at is None and self.host.upload(video_id) is None:
            return None
        return reel

    async def _rupload(self, request: Request, video_id: str) -> Response:
        reel = self.reels.get(video_id)
        token_page = self._page_tokens.get(bearer_of(request) or "")
        account = self._tokens.check(request, rupload=True)
        if isinstance(account, Response):
            return account
        if reel is None or token_page != reel.page_id:
            return rupload_error(401, "OAuthException", "A Page access token of the reel's Page")
        offset = request.header("offset", "")
        held = self.host.held(video_id)
        alive = self.host.upload(video_id) is not None  # else the host answers 404
        if request.method == "POST" and alive and offset.isdigit() and int(offset) != held:
            await request.discard()
            return bad_offset(int(offset), held, reel.page_id)
        answer = await self.host.handle(request, video_id, account)
        if reel.uploaded_at is None and self.host.complete(video_id):
            reel.uploaded_at = self.ctx.store.clock()
            reel.size = self.host.held(video_id)
            if self.failing:
                reel.processing_error = self.failing.pop(0)
        return answer

    async def _status(self, request: Request, video_id: str) -> Response:
        account = self._tokens.check(request)
        if isinstance(account, Response):
            return account
        reel = self._visible(video_id, account)
        if reel is None:
            return missing(video_id)
        held = reel.size if reel.uploaded_at is not None else self.host.held(video_id)
        status = reel.status(
            held,
            self.ctx.store.clock(),
            self.clock.now(),
            self.processing_seconds,
            self.clock,
        )
        return graph_ok({"id": reel.id, "status": status}, reel.page_id, "pages")

    async def _list(self, request: Request, page_id: str) -> Response:
        account = self._page_account(request, page_id)
        if isinstance(account, Response):
            return account
        mine = [r for r in self.reels.values() if r.page_id == page_id and r.state is not None]
        mine.sort(key=lambda r: r.finished_at or 0.0, reverse=True)
        data = [r.listing(self.clock) for r in mine]
        return graph_ok({"data": data, "paging": {"cursors": {}}}, page_id, "pages")
