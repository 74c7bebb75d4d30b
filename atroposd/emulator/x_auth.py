"""X's two user contexts for the emulator: OAuth 1.0a (signed requests) and OAuth 2.0 + PKCE.

OAuth 1.0a (providers.md §7.1, §8.6): every request's ``Authorization: OAuth ...`` header is
verified for real with Authlib's RFC 5849 primitives (base string over method, URL, query
and form-encoded body parameters, HMAC-SHA1 with the consumer and token secrets); a bad
signature, an unknown key or token, a timestamp more than 5 minutes off or a reused nonce
answers 401. The three-legged flow: ``POST /oauth/request_token`` (``oauth_callback``) ->
``GET /oauth/authorize?oauth_token=..`` (the sandbox approves at once for the account named
by ``screen_name``, default ``default``; ``oob`` answers the verifier in the body, otherwise
302 to the callback) -> ``POST /oauth/access_token`` (``oauth_verifier``) ->
``oauth_token``, ``oauth_token_secret``, ``user_id``, ``screen_name``. Access tokens never
expire; ``/_emulator/revoke`` kills them. They are ``sandbox:<account>:<random>`` with a token
secret derived from the token, so a restarted emulator still takes a sandbox login.

OAuth 2.0: ``GET /i/oauth2/authorize`` (PKCE ``code_challenge``, S256 or plain; the sandbox
approves at once for ``sandbox_account``, default ``default``) -> 302 with a code valid 30 s;
``POST /2/oauth2/token`` with ``authorization_code`` (+ ``code_verifier``) or
``refresh_token``; access tokens live 2 h; a refresh token is single-use: every refresh
answers a new one, and presenting a spent one kills its whole family (forced reconnect).
``sandbox:<account>:<anything>`` is a valid first refresh token (the vault's sandbox logins), and
rotated ones keep that form, so a restarted emulator (which forgot the spent ones) takes them.
``POST /2/oauth2/revoke``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from urllib.request import parse_http_list, parse_keqv_list

from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature
from authlib.oauth1.rfc5849.util import unescape
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from atroposd.emulator.store import TokenBook
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.x_common import user_id

PLATFORM = "x"
SANDBOX_APPS = {"sandbox-consumer-key": "sandbox-consumer-secret"}
ACCESS_TTL = 7200
CODE_TTL = 30.0
SKEW = 300  # seconds an OAuth 1.0a timestamp may be off
FORM = "application/x-www-form-urlencoded"
_SANDBOX_REFRESH = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)


def oauth2_error(error: str, description: str, status: int = 400) -> Response:
    """The token endpoint's error answer."""
    return Response.json(status, {"error": error, "error_description": description})


def _form_answer(values: dict[str, str]) -> Response:
    return Response(200, urlencode(values).encode(), (("Content-Type", FORM),))


def oauth_params(request: Request) -> dict[str, str] | None:
    """The ``oauth_*`` parameters of an ``Authorization: OAuth`` header (None: not OAuth)."""
    value = request.header("authorization", "")
    if not value.lower().startswith("oauth "):
        return None
    try:
        items = parse_keqv_list(parse_http_list(value[6:]))
    except (IndexError, ValueError):
        return None
    return {unescape(k): unescape(v) for k, v in items.items()}


@dataclass
class _Code:
    account: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str
    scopes: tuple[str, ...]
    issued: float


@dataclass
class XAuthState:
    """Every credential the emulated X issued."""

    apps: dict[str, str] = field(default_factory=lambda: dict(SANDBOX_APPS))
    request_tokens: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # secret, cb, acct
    verifiers: dict[str, str] = field(default_factory=dict)  # request token -> verifier
    nonces: set[tuple[str, str, str]] = field(default_factory=set)
    codes: dict[str, _Code] = field(default_factory=dict)
    refresh: dict[str, tuple[str, str]] = field(default_factory=dict)  # live: account, family
    spent: dict[str, str] = field(default_factory=dict)  # used refresh token -> family
    dead_families: set[str] = field(default_factory=set)
    revoked_access: set[str] = field(default_factory=set)


class XAuth:
    """Answers X's OAuth endpoints and tells which account signed or bore a request."""

    def __init__(self, tokens: TokenBook) -> None:
        self._tokens = tokens
        self.state = XAuthState()

    def rebind(self, tokens: TokenBook) -> None:
        """Use the store's new token book (after a reset) and forget every credential."""
        self._tokens = tokens
        self.state = XAuthState()

    # -- who is asking ----------------------------------------------------------------------

    async def account(self, request: Request, base_url: str) -> str | None:
        """The account of a valid bearer token or OAuth 1.0a signature, else None."""
        scheme, _, token = request.header("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            if token.strip() in self.state.revoked_access:
                return None
            return self._tokens.account_for(PLATFORM, token.strip())
        params = oauth_params(request)
        if params is None:
            return None
        token = params.get("oauth_token", "")
        entry = oauth1_token(token)
        if entry is None or not self._tokens.refresh_usable(PLATFORM, entry[1], token):
            return None
        form = await self._form(request)
        return entry[1] if self._signed(request, base_url, params, form, entry[0]) else None

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        if not request.header("content-type", "").startswith(FORM):
            return []
        return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)

    def _signed(
        self,
        request: Request,
        base_url: str,
        params: dict[str, str],
        form: list[tuple[str, str]],
        token_secret: str,
    ) -> bool:
        """True when the HMAC-SHA1 signature, key, timestamp and nonce are all good."""
        consumer = params.get("oauth_consumer_key", "")
        secret = self.state.apps.get(consumer)
        if secret is None or params.get("oauth_signature_method") != "HMAC-SHA1":
            return False
        stamp = params.get("oauth_timestamp", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > SKEW:
            return False
        nonce = (consumer, params.get("oauth_nonce", ""), stamp)
        if not nonce[1] or nonce in self.state.nonces:
            return False
        url = base_url + request.target
        query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
        signed = [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
        base = construct_base_string(request.method, url, [*query, *form, *signed])
        expected = str(hmac_sha1_signature(base, secret, token_secret))
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            return False
        self.state.nonces.add(nonce)
        return True

    # -- OAuth 1.0a three-legged flow -------------------------------------------------------

    async def request_token(self, request: Request, base_url: str) -> Response:
        """``POST /oauth/request_token``: a temporary token for the user to authorize."""
        params = oauth_params(request) or {}
        form = await self._form(request)
        callback = params.get("oauth_callback") or dict(form).get("oauth_callback", "")
        if not callback or not self._signed(request, base_url, params, form, ""):
            return oauth1_refused()
        token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
        self.state.request_tokens[token] = (secret, callback, "")
        return _form_answer(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )

    def authorize1(self, request: Request) -> Response:
        """``GET /oauth/authorize``: the sandbox user approves at once."""
        token = request.query.get("oauth_token", "")
        entry = self.state.request_tokens.get(token)
        if entry is None:
            return Response(400, b"Invalid request token.", (("Content-Type", "text/plain"),))
        account = request.query.get("screen_name") or "default"
        self.state.request_tokens[token] = (entry[0], entry[1], account)
        verifier = secrets.token_urlsafe(12)
        self.state.verifiers[token] = verifier
        values = {"oauth_token": token, "oauth_verifier": verifier}
        if entry[1] == "oob":
            return _form_answer(values)
        sep = "&" if "?" in entry[1] else "?"
        return Response(302, b"", (("Location", entry[1] + sep + urlencode(values)),))

    async def access_token(self, request: Request, base_url: str) -> Response:
        """``POST /oauth/access_token``: the verifier for a user's access token pair."""
        params = oauth_params(request) or {}
        form = await self._form(request)
        token = params.get("oauth_token", "")
        entry = self.state.request_tokens.get(token)
        verifier = params.get("oauth_verifier") or dict(form).get("oauth_verifier", "")
        if (
            entry is None
            or not entry[2]
            or not hmac.compare_digest(self.state.verifiers.get(token, "-"), verifier)
            or not self._signed(request, base_url, params, form, entry[0])
        ):
            return oauth1_refused()
        del self.state.request_tokens[token]
        account = entry[2]
        access = self._tokens.issue_refresh(PLATFORM, account, f"sandbox:{account}:")
        secret = _token_secret(access)
        return _form_answer(
            {
                "oauth_token": access,
                "oauth_token_secret": secret,
                "user_id": user_id(account),
                "screen_name": account,
            }
        )

    # -- OAuth 2.0 --------------------------------------------------------------------------

    def authorize2(self, request: Request) -> Response:
        """``GET /i/oauth2/authorize``: the sandbox user approves at once; 302 with a code."""
        q = request.query
        redirect, challenge = q.get("redirect_uri", ""), q.get("code_challenge", "")
        method = q.get("code_challenge_method", "plain")
        if q.get("response_type") != "code" or not q.get("client_id") or not redirect:
            return oauth2_error("invalid_request", "Missing required parameter.")
        if not challenge or method not in ("S256", "plain") or len(q.get("state", "")) > 500:
            return oauth2_error("invalid_request", "Invalid PKCE or state parameter.")
        code = secrets.token_urlsafe(24)
        scopes = tuple(q.get("scope", "").split())
        account = q.get("sandbox_account") or "default"
        self.state.codes[code] = _Code(
            account, q["client_id"], redirect, challenge, method, scopes, time.monotonic()
        )
        sep = "&" if "?" in redirect else "?"
        location = redirect + sep + urlencode({"state": q.get("state", ""), "code": code})
        return Response(302, b"", (("Location", location),))

    async def token(self, request: Request) -> Response:
        """``POST /2/oauth2/token``: authorization_code (PKCE) and rotating refresh_token."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        form.update(_basic_client(request))
        if not form.get("client_id"):
            return oauth2_error("unauthorized_client", "Missing valid authorization header", 401)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(form)
        if grant != "refresh_token":
            return oauth2_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
        return self._refresh_grant(form.get("refresh_token", ""))

    def _code_grant(self, form: dict[str, str]) -> Response:
        code = self.state.codes.pop(form.get("code", ""), None)
        invalid = oauth2_error(
            "invalid_request", "Value passed for the authorization code was invalid."
        )
        if code is None or time.monotonic() - code.issued > CODE_TTL:
            return invalid
        verifier = form.get("code_verifier", "")
        expected = create_s256_code_challenge(verifier) if code.method == "S256" else verifier
        if (
            not verifier
            or not hmac.compare_digest(expected, code.challenge)
            or form.get("redirect_uri") != code.redirect_uri
            or form.get("client_id") != code.client_id
        ):
            return invalid
        offline = "offline.access" in code.scopes
        return self._grant(code.account, secrets.token_hex(8) if offline else None, code.scopes)

    def _refresh_grant(self, refresh: str) -> Response:
        st = self.state
        invalid = oauth2_error("invalid_request", "Value passed for the token was invalid.")
        if refresh in st.spent:  # a rotated token presented again: the family dies
            family = st.spent[refresh]
            st.dead_families.add(family)
            for token, (_, fam) in list(st.refresh.items()):
                if fam == family:  # the live one dies too, and stays dead
                    del st.refresh[token]
                    st.spent[token] = family
            return invalid
        live = st.refresh.get(refresh)
        if live is None:
            match = _SANDBOX_REFRESH.fullmatch(refresh)
            if match is None:
                return invalid
            live = (match.group(1), secrets.token_hex(8))
        account, family = live
        if family in st.dead_families or not self._tokens.refresh_usable(
            PLATFORM, account, refresh
        ):
            return invalid
        st.refresh.pop(refresh, None)
        st.spent[refresh] = family
        return self._grant(
            account,
            family,
            ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
        )

    def _grant(self, account: str, family: str | None, scopes: tuple[str, ...]) -> Response:
        access = self._tokens.issue_access(PLATFORM, account, ACCESS_TTL)
        body: dict[str, object] = {
            "token_type": "bearer",
            "expires_in": self._tokens.lifetime(PLATFORM, ACCESS_TTL),
            "access_token": access,
            "scope": " ".join(scopes),
        }
        if family is not None:
            # Still of the sandbox form, so a restarted emulator takes it (as the vault's).
            refresh = self._tokens.issue_refresh(PLATFORM, account, f"sandbox:{account}:r")
            self.state.refresh[refresh] = (account, family)
            body["refresh_token"] = refresh
        return Response.json(200, body, (("Cache-Control", "no-store"),))

    async def revoke(self, request: Request) -> Response:
        """``POST /2/oauth2/revoke``: the token (access or refresh) stops working."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        token = form.get("token", "")
        entry = self.state.refresh.pop(token, None)
        if entry is not None:
            self.state.dead_families.add(entry[1])
            self.state.spent[token] = entry[1]
        self.state.revoked_access.add(token)
        return Response.json(200, {"revoked": True})


def _token_secret(token: str) -> str:
    """The sandbox secret of an OAuth 1.0a access token: derived from it, so a restarted
    emulator still verifies the signatures of logins made before (it is a sandbox)."""
    digest = hashlib.sha256(f"x-sandbox-token-secret:{token}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def oauth1_token(token: str) -> tuple[str, str] | None:
    """(token secret, account) of a sandbox OAuth 1.0a access token, else None."""
    match = _SANDBOX_REFRESH.fullmatch(token)
    return (_token_secret(token), match.group(1)) if match else None


def oauth1_refused() -> Response:
    """X's answer to a bad OAuth 1.0a token request."""
    return Response(401, b"Invalid signature or token.", (("Content-Type", "text/plain"),))


def _basic_client(request: Request) -> dict[str, str]:
    scheme, _, value = request.header("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return {}
    client_id, _, secret = decoded.partition(":")
    return {"client_id": unquote(client_id), "client_secret": unquote(secret)}
