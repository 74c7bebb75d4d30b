"""Revocation endpoints a logout calls (Google, TikTok, X OAuth 1.0a); Meta's is in
``oauth_meta``, X's OAuth 2.0 revoke in ``x_auth``. A revoked grant stops working at once:
its access and refresh tokens are refused (``TokenBook.revoke``); a new login works again."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth1.rfc5849.signature import construct_base_string, hmac_sha1_signature

from atroposd.emulator.oauth_rules import oauth_error, read_form
from atroposd.emulator.platform import Context
from atroposd.emulator.wire import Request, Response
from atroposd.emulator.x_auth import SANDBOX_APPS, oauth1_refused, oauth1_token, oauth_params

Work = Callable[[], Awaitable[Response]]
PATHS = {
    ("youtube", "/revoke"),
    ("tiktok", "/v2/oauth/revoke/"),
    ("x", "/1.1/oauth/invalidate_token"),
}
_SANDBOX = re.compile(r"sandbox:([^:]+):.*", re.DOTALL)


def revoke(ctx: Context, request: Request, name: str, path: str) -> Work | None:
    """The work of a revocation request, or None when this is not one."""
    if request.method != "POST" or (name, path) not in PATHS:
        return None
    if name == "x":
        return lambda: _invalidate_oauth1(ctx, request)
    return lambda: _revoke_token(ctx, request, name)


def _owner(ctx: Context, name: str, token: str) -> str | None:
    """The account of an access token this emulator issued, or of a sandbox refresh token."""
    account = ctx.store.tokens.account_for(name, token)
    if account is not None:
        return account
    match = _SANDBOX.fullmatch(token)
    return match.group(1) if match else None


async def _revoke_token(ctx: Context, request: Request, name: str) -> Response:
    form = await read_form(request)
    if name == "tiktok" and (not form.get("client_id") or not form.get("client_secret")):
        return oauth_error(401, "invalid_client", "Client key or secret is missing.")
    account = _owner(ctx, name, form.get("token", ""))
    if account is None:
        return oauth_error(400, "invalid_token", "Token expired or revoked")
    ctx.store.tokens.revoke(name, account)
    return Response.json(200, {})


async def _invalidate_oauth1(ctx: Context, request: Request) -> Response:
    """``POST /1.1/oauth/invalidate_token``, signed with the token being invalidated."""
    params = oauth_params(request) or {}
    token = params.get("oauth_token", "")
    entry = oauth1_token(token)
    secret = SANDBOX_APPS.get(params.get("oauth_consumer_key", ""))
    if entry is None or secret is None:
        return oauth1_refused()
    form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    query = parse_qsl(urlsplit(request.target).query, keep_blank_values=True)
    signed = [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
    url = ctx.base_url(request) + request.target
    base = construct_base_string(request.method, url, [*query, *form, *signed])
    expected = str(hmac_sha1_signature(base, secret, entry[0]))
    if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
        return oauth1_refused()
    ctx.store.tokens.revoke("x", entry[1])
    return Response.json(200, {"access_token": token})
