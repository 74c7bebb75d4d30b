"""X API v2 under ``/x``: chunked media upload, posts, timelines, both OAuth flavours.

Real paths (providers.md §7, §8.6), each a fault step:

=============  ==================================================================
step           request
=============  ==================================================================
init           ``POST /2/media/upload/initialize``
append         ``POST /2/media/upload/{id}/append``
finalize       ``POST /2/media/upload/{id}/finalize``
status         ``GET /2/media/upload?command=STATUS&media_id=``
tweet          ``POST /2/tweets``
me             ``GET /2/users/me``
timeline       ``GET /2/users/{id}/tweets``
token          ``POST /2/oauth2/token``; ``GET /i/oauth2/authorize``; ``POST /2/oauth2/revoke``
oauth1         ``POST /oauth/request_token``, ``GET /oauth/authorize``, ``POST /oauth/access_token``
=============  ==================================================================

Every API request needs a user context: a bearer token from ``/2/oauth2/token`` or a
verified OAuth 1.0a signature (``x_auth.py``); else 401 problem JSON. Every answer carries
``x-rate-limit-limit/-remaining/-reset`` (unix seconds) of the user's 15-minute window for
that endpoint (X's published limits, ``x_common.LIMITS``); a used-up window answers 429
``rate-limit-exceeded`` until its reset. ``POST /2/tweets`` also carries the app's
``x-app-limit-24hour-*`` (10 000 a day). Media and posts: ``x_media.py``.

``GET /x/_emulator/media`` (not X's): every media with its stored segment sizes and how many
APPENDs each ``segment_index`` received, for tests that must show no segment was sent twice.
``POST /x/_emulator/long_posts`` ``{"account", "limit"}`` (not X's): that account may post
texts up to ``limit`` weighted characters (an X Premium long-post account).
``POST /x/_emulator/other_posts`` ``{"account", "count"}`` (not X's): that many text posts the
user made elsewhere (the X app), in its timeline only. ``POST /x/_emulator/timeline_lag``
``{"reads"}`` (not X's): posts made from now on are missing from that many timeline answers
(X's timelines are eventually consistent). Timelines: ``x_timeline.py``.

Not emulated: scopes of OAuth 2.0 tokens (every token may do everything), the legacy
``command=INIT|APPEND|FINALIZE`` forms and v1.1, prepaid credits, real media checks.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable

from atroposd.emulator.faults import run_step
from atroposd.emulator.platform import Context
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.x_auth import XAuth, oauth1_token, oauth_params
from atroposd.emulator.x_common import (
    APP_TWEETS_PER_DAY,
    DAY,
    LIMITS,
    WINDOW,
    Window,
    fault_body,
    not_found,
    problem,
    unauthorized,
)
from atroposd.emulator.x_media import XMedia

Work = Callable[[], Awaitable[Response]]
Api = Callable[[Request, str], Awaitable[Response]]
_MEDIA = re.compile(r"/2/media/upload/([0-9]{1,19})/(append|finalize)")
_TIMELINE = re.compile(r"/2/users/([0-9]{1,19})/tweets")
UNLIMITED = ("token", "oauth1")


class X:
    """The emulated X platform."""

    name = "x"
    steps = frozenset(
        {"init", "append", "finalize", "status", "tweet", "me", "timeline", "token", "oauth1"}
    )

    def __init__(self, ctx: Context, processing_seconds: float = 0.3) -> None:
        self._ctx = ctx
        self._auth = XAuth(ctx.store.tokens)
        self.media = XMedia(ctx.store, processing_seconds)
        self._windows: dict[tuple[str, str], Window] = {}
        self._app_day = Window(APP_TWEETS_PER_DAY, DAY)

    def reset(self) -> None:
        """Forget media, posts, credentials and rate-limit windows."""
        self._auth.rebind(self._ctx.store.tokens)
        self.media.reset()
        self._windows.clear()
        self._app_day = Window(APP_TWEETS_PER_DAY, DAY)

    async def handle(self, request: Request, path: str) -> Response:
        """Route one request to its step, faults applied, rate-limit headers added."""
        step, work = self._route(request, path)
        if work is None:
            return not_found(f"No route for {request.method} {path}.", "route", path)
        if not step:
            return await work()
        response = await run_step(self._ctx.faults, self.name, step, request, work, fault_body)
        return self._with_limits(request, step, response)

    def _route(self, request: Request, path: str) -> tuple[str, Work | None]:
        method, base = request.method, self._ctx.base_url(request)
        auth = self._auth
        simple: dict[tuple[str, str], tuple[str, Work]] = {
            ("POST", "/2/oauth2/token"): ("token", lambda: auth.token(request)),
            ("POST", "/2/oauth2/revoke"): ("token", lambda: auth.revoke(request)),
            ("GET", "/i/oauth2/authorize"): ("token", lambda: _now(auth.authorize2(request))),
            ("POST", "/oauth/request_token"): ("oauth1", lambda: auth.request_token(request, base)),
            ("GET", "/oauth/authorize"): ("oauth1", lambda: _now(auth.authorize1(request))),
            ("POST", "/oauth/access_token"): ("oauth1", lambda: auth.access_token(request, base)),
        }
        if (method, path) in simple:
            return simple[(method, path)]
        if (method, path) == ("POST", "/_emulator/long_posts"):  # control, not X's
            return "", lambda: self._long_posts(request)
        if (method, path) == ("POST", "/_emulator/other_posts"):  # control, not X's
            return "", lambda: self._other_posts(request)
        if (method, path) == ("POST", "/_emulator/timeline_lag"):  # control, not X's
            return "", lambda: self._timeline_lag(request)
        if (method, path) == ("GET", "/_emulator/media"):  # introspection, not X's
            return "", lambda: _now(
                Response.json(200, [m.to_json() for m in self.media.media.values()])
            )
        media = self.media
        api: dict[tuple[str, str], tuple[str, Api]] = {
            ("POST", "/2/media/upload/initialize"): ("init", media.initialize),
            ("GET", "/2/media/upload"): ("status", lambda r, a: _now(media.status(r, a))),
            ("POST", "/2/tweets"): ("tweet", media.create_tweet),
            ("GET", "/2/users/me"): ("me", lambda r, a: _now(media.me(a))),
        }
        if (method, path) in api:
            step, handler = api[(method, path)]
            return step, lambda: self._api(request, step, handler)
        found = _MEDIA.fullmatch(path)
        if found and method == "POST":
            media_id, verb = found.groups()
            call: Api = (
                (lambda r, a: media.append(r, a, media_id))
                if verb == "append"
                else (lambda r, a: media.finalize(a, media_id))
            )
            return verb, lambda: self._api(request, verb, call)
        found = _TIMELINE.fullmatch(path)
        if found and method == "GET":
            wanted = found.group(1)
            return "timeline", lambda: self._api(
                request, "timeline", lambda r, a: _now(media.timeline(r, a, wanted))
            )
        return "", None

    async def _api(self, request: Request, step: str, handler: Api) -> Response:
        account = await self._auth.account(request, self._ctx.base_url(request))
        if account is None:
            await request.discard()
            return unauthorized()
        now = time.time()
        if not self._window(account, step).take(now):
            await request.discard()
            return _too_many()
        if step == "tweet" and not self._app_day.take(now):
            await request.discard()
            return _too_many()
        return await handler(request, account)

    async def _long_posts(self, request: Request) -> Response:
        """``{"account", "limit"}``: the account may post texts up to ``limit`` (X Premium)."""
        doc = json.loads(await request.body() or b"{}")
        account, limit = doc.get("account"), doc.get("limit")
        if not isinstance(account, str) or not isinstance(limit, int) or limit < 1:
            return Response.json(400, {"error": "'account' (string) and 'limit' (>= 1) required"})
        self.media.long_posts[account] = limit
        return Response.json(200, dict(self.media.long_posts))

    async def _other_posts(self, request: Request) -> Response:
        """``{"account", "count"}``: text posts the user made elsewhere (in the X app)."""
        doc = json.loads(await request.body() or b"{}")
        account, count = doc.get("account"), doc.get("count")
        if not isinstance(account, str) or not isinstance(count, int) or not 0 < count <= 5000:
            return Response.json(400, {"error": "'account' (string) and 'count' (1..5000)"})
        self.media.other_posts(account, count)
        return Response.json(200, {"added": count})

    async def _timeline_lag(self, request: Request) -> Response:
        """``{"reads"}``: posts made from now on miss that many timeline answers."""
        reads = json.loads(await request.body() or b"{}").get("reads")
        if not isinstance(reads, int) or reads < 0:
            return Response.json(400, {"error": "'reads' (>= 0) required"})
        self.media.lag.reads = reads
        return Response.json(200, {"reads": reads})

    def _window(self, account: str, step: str) -> Window:
        return self._windows.setdefault((account, step), Window(LIMITS.get(step, 900), WINDOW))

    def _caller(self, request: Request) -> str:
        """Whose window an answer reports (without verifying anything again)."""
        scheme, _, token = request.header("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self._ctx.store.tokens.account_for(self.name, token.strip()) or "-"
        entry = oauth1_token((oauth_params(request) or {}).get("oauth_token", ""))
        return entry[1] if entry else "-"

    def _with_limits(self, request: Request, step: str, response: Response) -> Response:
        """Add the rate-limit headers unless the answer (a fault rule) set them itself."""
        if step in UNLIMITED or any(k.lower() == "x-rate-limit-reset" for k, _ in response.headers):
            return response
        window = self._window(self._caller(request), step)
        if window.reset <= time.time():
            window.reset = int(time.time()) + window.span
        extra = window.headers()
        if step == "tweet":
            extra += self._app_day.headers("x-app-limit-24hour")
        return Response(response.status, response.body, (*response.headers, *extra))


async def _now(response: Response) -> Response:
    return response


def _too_many() -> Response:
    return problem(429, "Too Many Requests", "Too Many Requests", "rate-limit-exceeded")
