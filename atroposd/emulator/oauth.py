"""Logins against the emulator: authorize pages that approve at once, codes, revocation.

What ``atroposd auth login`` needs from each platform, served in front of the platform
modules (``server.py`` asks ``OAuthServer.handle`` first; ``None`` lets the platform answer):

==========  ======================================  ===========================================
platform    authorize (GET, 302 to redirect_uri)    code exchange / revoke
==========  ======================================  ===========================================
youtube     /o/oauth2/v2/auth (PKCE S256|plain;     POST /token; POST /revoke (``token``)
            ``access_type=offline``: a refresh
            token too)
tiktok      /v2/auth/authorize/ (``client_key``;    POST /v2/oauth/token/; POST /v2/oauth/revoke/
            PKCE: hex SHA-256, as TikTok's desktop
            Login Kit computes it)
snapchat    /login/oauth2/authorize                 POST /login/oauth2/access_token
facebook,   /<ver>/dialog/oauth                     GET|POST /<ver>/oauth/access_token ``code``
instagram                                           (a short-lived token; ``fb_exchange_token``
                                                    stays the platform's); GET /<ver>/me/accounts;
                                                    DELETE /<ver>/me/permissions (``oauth_meta``)
x           the platform's own (x_auth.py)          POST /1.1/oauth/invalidate_token (OAuth 1.0a)
==========  ======================================  ===========================================

The sandbox user approving is the account named by ``sandbox_account`` (default ``default``).
A code is single-use, lives 10 minutes, and is bound to the client id, the redirect URI and
the PKCE challenge: a wrong one of these is refused as the platform does (RFC 6749
``invalid_grant``; Graph error 100). Tokens are of the sandbox forms the platform modules
already take (refresh ``sandbox:<account>:…``), so a clip posts with them and they refresh.

Every token any token endpoint answers (and every Page token of ``/me/accounts``) is listed by
``GET /_emulator/oauth/issued``, so tests can search files and output for each of them.
``POST /_emulator/oauth/pages {"account", "pages": [{"id", "instagram_business_account"?}]}``
sets the Pages a Meta login manages (default: one Page with a linked Instagram account, ids
derived from the account name).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from atroposd.emulator.faults import run_step
from atroposd.emulator.oauth_meta import MetaLogins, is_meta
from atroposd.emulator.oauth_revoke import revoke
from atroposd.emulator.oauth_rules import (
    AUTHORIZE,
    CODE_TTL,
    META,
    TOKEN,
    Code,
    code_refusal,
    lifetime,
    oauth_error,
    read_form,
)
from atroposd.emulator.platform import Context, Platform
from atroposd.emulator.wire import Request, Response

CONTROL = "/_emulator/oauth"
TOKEN_FIELDS = ("access_token", "refresh_token", "oauth_token", "oauth_token_secret")
Work = Callable[[], Awaitable[Response]]


@dataclass(frozen=True)
class Issued:
    """One secret value an endpoint handed out."""

    platform: str
    kind: str
    value: str


class OAuthServer:
    """The login endpoints of every platform, in front of the platform modules."""

    def __init__(self, ctx: Context, platforms: Mapping[str, Platform]) -> None:
        self._ctx = ctx
        self._platforms = platforms
        self.codes: dict[str, Code] = {}
        self.issued: list[Issued] = []
        self.meta = MetaLogins(ctx, platforms, self._record)

    def reset(self) -> None:
        """Forget codes, issued values and the Pages set by tests."""
        self.codes.clear()
        self.issued.clear()
        self.meta.reset()

    def _record(self, platform: str, kind: str, value: object) -> None:
        if isinstance(value, str) and value:
            self.issued.append(Issued(platform, kind, value))

    async def handle(self, request: Request, path: str) -> Response | None:
        """The answer to a login request, or None for the platform module to answer."""
        if path == "/_emulator/reset" and request.method == "POST":
            self.reset()  # and the control API resets the rest
            return None
        if path == CONTROL or path.startswith(CONTROL + "/"):
            return await self._control(request, path.removeprefix(CONTROL))
        name, _, rest = path.lstrip("/").partition("/")
        platform = self._platforms.get(name)
        if platform is None:
            return None
        work = self._route(request, name, "/" + rest, platform)
        return await work() if work is not None else None

    def _route(self, request: Request, name: str, path: str, platform: Platform) -> Work | None:
        method = request.method
        if method == "GET" and AUTHORIZE.get(name) == path:
            return lambda: self._authorize(request, name)
        if is_meta(name):
            if method == "GET" and META.dialog(path):
                return lambda: self._authorize(request, name)
            meta = self.meta.route(request, name, path)
            if meta is not None:
                return meta
        posting = method == "POST" or (is_meta(name) and method == "GET")
        if posting and TOKEN.matches(name, path):
            return lambda: self._token(request, name, path, platform)
        revoking = revoke(self._ctx, request, name, path)
        if revoking is not None:
            return revoking
        return None

    # -- authorize ------------------------------------------------------------------------

    async def _authorize(self, request: Request, name: str) -> Response:
        """The sandbox user approves at once: 302 to ``redirect_uri`` with code and state."""
        q = request.query
        client = q.get("client_key" if name == "tiktok" else "client_id", "")
        redirect = q.get("redirect_uri", "")
        if q.get("response_type", "code") != "code" or not client:
            return oauth_error(400, "invalid_request", "Missing response_type=code or client id.")
        if not redirect.startswith(("http://", "https://")):
            return oauth_error(400, "invalid_request", "redirect_uri is missing or not a URL.")
        challenge = q.get("code_challenge", "")
        method = q.get("code_challenge_method", "S256" if challenge else "")
        if challenge and method not in ("S256", "plain"):
            return oauth_error(400, "invalid_request", f"Unsupported PKCE method {method}")
        offline = name != "youtube" or q.get("access_type") == "offline"
        code = secrets.token_urlsafe(24)
        account = q.get("sandbox_account") or "default"
        scope = q.get("scope", "")
        self.codes[code] = Code(
            name, account, client, redirect, challenge, method, scope, offline, time.monotonic()
        )
        sep = "&" if "?" in redirect else "?"
        answer = {"code": code, "state": q.get("state", "")}
        if name == "youtube":
            answer["scope"] = scope
        return Response(302, b"", (("Location", redirect + sep + urlencode(answer)),))

    # -- code exchange --------------------------------------------------------------------

    async def _token(self, request: Request, name: str, path: str, platform: Platform) -> Response:
        form = await read_form(request)
        code = self.codes.get(form.get("code", ""))
        if code is None or name == "x":
            answer = await platform.handle(request, path)  # refresh grants, sandbox stand-ins
            self._record_answer(name, answer)
            return answer

        async def exchange() -> Response:
            return self._exchange(name, form)

        body = self._fault_body(name)
        answer = await run_step(self._ctx.faults, name, "token", request, exchange, body)
        self._record_answer(name, answer)
        return answer

    @staticmethod
    def _fault_body(name: str) -> Callable[[int], object]:
        def body(status: int) -> object:
            return {"error": "server_error", "error_description": f"HTTP {status}"}

        return body

    def _exchange(self, name: str, form: dict[str, str]) -> Response:
        code = self.codes.pop(form.get("code", ""))  # single-use, whatever the outcome
        refused = code_refusal(name, code, form, time.monotonic() - code.issued > CODE_TTL)
        if refused is not None:
            return refused
        if is_meta(name):
            return self.meta.short_lived(code.account, name)
        tokens, account = self._ctx.store.tokens, code.account
        access_ttl = {"youtube": 3599, "tiktok": 86400, "snapchat": 3600}[name]
        body: dict[str, object] = {
            "access_token": tokens.issue_access(name, account, access_ttl),
            "expires_in": lifetime(tokens, name, access_ttl),
            "token_type": "Bearer",
            "scope": code.scope,
        }
        if code.offline:
            body["refresh_token"] = tokens.issue_refresh(name, account, f"sandbox:{account}:")
        if name == "tiktok":
            body.update(open_id=f"open-{account}", refresh_expires_in=31536000)
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    def _record_answer(self, name: str, answer: Response) -> None:
        if answer.status != 200:
            return
        text = answer.body.decode("utf-8", "replace")
        try:
            doc = json.loads(text)
        except ValueError:
            doc = dict(parse_qsl(text))  # OAuth 1.0a answers are form-encoded
        if isinstance(doc, dict):
            for kind in TOKEN_FIELDS:
                self._record(name, kind, doc.get(kind))

    # -- control --------------------------------------------------------------------------

    async def _control(self, request: Request, rest: str) -> Response:
        if (request.method, rest) == ("GET", "/issued"):
            rows: list[dict[str, Any]] = [
                {"platform": i.platform, "kind": i.kind, "value": i.value} for i in self.issued
            ]
            return Response.json(200, rows)
        if (request.method, rest) == ("GET", "/codes"):
            return Response.json(200, {"pending": len(self.codes)})
        if (request.method, rest) == ("POST", "/pages"):
            return await self.meta.set_pages(request)
        return Response.json(404, {"error": f"no oauth control {request.method} {rest}"})
