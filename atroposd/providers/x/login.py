"""X's two logins (providers.md §7.1), chosen by the account's ``auth`` (else ``X_AUTH``):

- OAuth 2.0: authorization code + PKCE (S256) with ``offline.access`` for a refresh token,
  the app as a confidential client (HTTP Basic); ``POST /2/oauth2/revoke`` at logout.
- OAuth 1.0a three-legged with the consumer key: ``POST /oauth/request_token``
  (``oauth_callback`` = the loopback redirect) -> the user authorizes -> ``POST
  /oauth/access_token`` with the verifier -> the user's token and token secret (stored as
  ``access_token`` and ``extra["token_secret"]``, as ``x/auth.py`` reads them; they never
  expire). The returned ``oauth_token`` must be the request token this login asked for (the
  OAuth 1.0a counterpart of ``state``). ``POST /1.1/oauth/invalidate_token`` at logout.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

import httpx

from atroposd.errors import ConfigError
from atroposd.providers._http import guarded
from atroposd.providers.auth import OAuth1Keys, oauth1_header
from atroposd.providers.auth.flows import LoginPlan, Now, code_plan, post_revoke
from atroposd.providers.auth.login import CodeFlow, LoginFailed
from atroposd.providers.auth.redirect import Browser, Redirect
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.providers.x.auth import MODES, OAUTH1, OAUTH2
from atroposd.providers.x.errors import NAME
from atroposd.providers.x.provider import XEndpoints

AUTHORIZE_URL = "https://x.com/i/oauth2/authorize"
SCOPES = ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access")


def _app(ctx: ProviderContext, name: str, stand_in: str) -> str:
    value = ctx.secret(name) or (stand_in if ctx.sandbox else "")
    if not value:
        raise ConfigError(f".env: {name}: required to log in to X with this account's auth mode")
    return value


def plan(ctx: ProviderContext, account: str, mode: str | None) -> LoginPlan:
    """The login of the account's X user context (``mode``: oauth1, oauth2, None: X_AUTH)."""
    chosen = mode or ctx.override("X_AUTH") or OAUTH2
    if chosen not in MODES:
        raise LoginFailed(f"X auth mode {chosen!r}: must be oauth1 or oauth2")
    base = XEndpoints.sandbox(ctx.sandbox_url) if ctx.sandbox else XEndpoints.production()
    api = (ctx.override("X_API_BASE") or base.api_base).rstrip("/")
    if chosen == OAUTH1:
        keys = OAuth1Keys(
            _app(ctx, "X_CONSUMER_KEY", "sandbox-consumer-key"),
            _app(ctx, "X_CONSUMER_SECRET", "sandbox-consumer-secret"),
            "",
            "",
        )
        return _oauth1_plan(api, keys)
    client_id = _app(ctx, "X_CLIENT_ID", "sandbox-client-id")
    secret = _app(ctx, "X_CLIENT_SECRET", "sandbox-client-secret")
    flow = CodeFlow(
        platform=NAME,
        authorize_url=f"{api}/i/oauth2/authorize" if ctx.sandbox else AUTHORIZE_URL,
        token_url=f"{api}/2/oauth2/token",
        client_id=client_id,
        client_secret=secret,
        scopes=SCOPES,
        required=("tweet.write", "media.write", "offline.access"),
        basic_auth=True,
    )

    async def revoke(http: httpx.AsyncClient, creds: Credentials) -> None:
        form = {"token": creds.refresh_token or creds.access_token, "client_id": client_id}
        pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {pair}"}
        await post_revoke(http, NAME, f"{api}/2/oauth2/revoke", form, headers)

    return code_plan(flow, revoke)


def _oauth1_plan(api: str, app: OAuth1Keys) -> LoginPlan:
    async def login(
        http: httpx.AsyncClient, browser: Browser, account: str, hints: Mapping[str, str], now: Now
    ) -> Credentials:
        async with Redirect(browser) as redirect:
            url = f"{api}/oauth/request_token"
            callback = [("oauth_callback", redirect.uri)]
            header = oauth1_header(app, "POST", url, extra=callback)
            temp = await _form_call(http, url, header, redirect.uri)
            query = {"oauth_token": temp["oauth_token"]}
            if hints.get("sandbox_account"):
                query["screen_name"] = hints["sandbox_account"]  # X's prefill; the sandbox user
            answer = await redirect.answer(
                f"{api}/oauth/authorize?{urlencode(query)}", NAME, account
            )
        if answer.get("denied"):
            raise LoginFailed("X refused the login (the app was not authorized); nothing stored")
        came = answer.get("oauth_token", "").encode()
        if not hmac.compare_digest(came, query["oauth_token"].encode()):
            raise LoginFailed(
                "X: the redirect is for another request token (an old or forged redirect); "
                "nothing was stored, run the login again"
            )
        pending = OAuth1Keys(
            app.consumer_key, app.consumer_secret, temp["oauth_token"], temp["oauth_token_secret"]
        )
        url = f"{api}/oauth/access_token"
        verifier = [("oauth_verifier", answer.get("oauth_verifier", ""))]
        got = await _form_call(http, url, oauth1_header(pending, "POST", url, extra=verifier), "")
        extra = {"token_secret": got["oauth_token_secret"], "obtained_at": now().isoformat()}
        if got.get("user_id"):
            extra["user_id"] = got["user_id"]
        return Credentials(got["oauth_token"], None, None, extra)

    async def revoke(http: httpx.AsyncClient, creds: Credentials) -> None:
        keys = OAuth1Keys.of(app.consumer_key, app.consumer_secret, creds)
        url = f"{api}/1.1/oauth/invalidate_token"
        header = oauth1_header(keys, "POST", url)
        head = {"Authorization": header}
        resp = await guarded(NAME, "revoke", lambda: http.post(url, headers=head))
        if resp.status_code >= 300:
            raise LoginFailed(f"X did not confirm the invalidation (HTTP {resp.status_code})")

    return LoginPlan(NAME, login, revoke)


async def _form_call(
    http: httpx.AsyncClient, url: str, header: str, callback: str
) -> dict[str, str]:
    """One OAuth 1.0a token request; its form-encoded answer, or ``LoginFailed``.
    ``callback``: the request token's ``oauth_callback`` ("" for the access token)."""
    resp = await guarded(NAME, "login", lambda: http.post(url, headers={"Authorization": header}))
    answer = dict(parse_qsl(resp.text))
    if resp.status_code == 200 and answer.get("oauth_token"):
        return answer
    said = _x_says(resp)
    if callback:
        raise LoginFailed(
            f"X refused the OAuth 1.0a request token (HTTP {resp.status_code}{said}); check "
            "X_CONSUMER_KEY / X_CONSUMER_SECRET, and that the app's callback URI allowlist holds "
            f"exactly {callback} (pick one with --port and register it); nothing was stored"
        )
    raise LoginFailed(
        f"X refused the OAuth 1.0a access token (HTTP {resp.status_code}{said}): the "
        "authorization was not completed, or its verifier is missing from the pasted address; "
        "nothing was stored, run the login again"
    )


def _x_says(resp: httpx.Response) -> str:
    """X's own words (``{"errors": [{"message", "code"}]}``), short; never a token (none in it)."""
    try:
        errors = resp.json().get("errors")
        first = errors[0] if isinstance(errors, list) and errors else {}
        message = str(first.get("message", ""))[:200] if isinstance(first, dict) else ""
    except (ValueError, AttributeError):
        return ""
    return f": {message}" if message else ""
