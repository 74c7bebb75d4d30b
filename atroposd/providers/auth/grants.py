"""The token request of each grant a platform uses, and its answer as tokens or typed errors.

``refresh_token`` (RFC 6749 §6: Google, TikTok, Snapchat, X OAuth 2.0) is a form POST built
with Authlib; ``fb_exchange_token`` (Meta: Instagram and Facebook) exchanges the current
long-lived user token for a new one (a form POST), since Meta issues no refresh token.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from atroposd.errors import RateLimited, ReauthRequired, TransientError
from atroposd.providers._http import guarded, json_body, retry_after
from atroposd.providers.base import Credentials
from atroposd.providers.spec import TITLES

if TYPE_CHECKING:
    from atroposd.providers.auth.oauth2 import TokenEndpoint

FORM = "application/x-www-form-urlencoded"
GRANTS = ("refresh_token", "fb_exchange_token")
META_THROTTLED = {4, 17, 32, 613}  # Graph API rate-limit codes
META_TRANSIENT = {1, 2}  # "unknown error", "service temporarily unavailable"
# RFC 6749 codes that say "try later"; TikTok lists both (developers.tiktok.com/doc/oauth-error-
# handling) and documents only the body of its errors, which clients have seen with HTTP 200
# (HohnerJulian/ResearchTikPy#28): the body's error decides, whatever the status.
RFC_TRANSIENT = {"server_error", "temporarily_unavailable"}


async def request_token(
    http: httpx.AsyncClient, ep: TokenEndpoint, account: str, creds: Credentials
) -> httpx.Response:
    """Send the platform's token request for ``creds``."""
    platform = ep.platform
    if ep.grant == "fb_exchange_token":
        if not creds.access_token:
            raise ReauthRequired(
                f"no {platform} token stored for account {account!r}; log in", platform=platform
            )
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": ep.client_id,
            "client_secret": ep.client_secret,
            "fb_exchange_token": creds.access_token,
        }
        # POSTed as a form (Graph takes any parameter in the body): in a GET's query the app
        # secret and the token would be in every logged URL (httpx logs each request's URL).
        headers = {"Content-Type": FORM, "Accept": "application/json"}
        return await guarded(
            platform, "token exchange", lambda: http.post(ep.url, data=params, headers=headers)
        )
    if not creds.refresh_token:
        raise ReauthRequired(
            f"no {platform} refresh token stored for account {account!r}; log in again",
            platform=platform,
        )
    body = prepare_token_request("refresh_token", refresh_token=creds.refresh_token)
    head = {"Content-Type": FORM, "Accept": "application/json"}
    url, head, body = ep.client_auth().prepare("POST", ep.url, head, body)
    return await guarded(
        platform, "token refresh", lambda: http.post(url, content=body.encode(), headers=head)
    )


def token_answer(
    ep: TokenEndpoint,
    account: str,
    resp: httpx.Response,
    secrets: tuple[str | None, ...],
    now: datetime,
) -> dict[str, Any]:
    """The token endpoint's JSON on success; every other answer as a typed error."""
    platform, status = ep.platform, resp.status_code
    body = json_body(resp)
    if status == 200 and body.get("access_token"):
        return body
    error, description, meta_code, transient = _error_of(body, status)
    # No OAuth error in the body (a proxy's or a CDN's HTML page, an empty 403/404 in an
    # outage): not the platform saying the grant is dead, so not a reason to park the login.
    transient = transient or error in RFC_TRANSIENT or not body.get("error")
    wait = retry_after(resp, now)
    if status == 429 or meta_code in META_THROTTLED:
        raise RateLimited(
            f"token refresh: throttled (HTTP {status})",
            platform=platform,
            status=status,
            retry_after=wait,
        )
    if status >= 500 or status == 408 or transient:
        raise TransientError(
            f"token refresh: HTTP {status} without a token; retrying later",
            platform=platform,
            status=status,
            retry_after=wait,
        )
    error, description = _scrub(error, secrets), _scrub(description, secrets)
    hint = (
        "check the client id and secret in .env"
        if error in ("invalid_client", "unauthorized_client")
        else f"account {account!r} must log in to {TITLES.get(platform, platform)} again"
    )
    raise ReauthRequired(
        f"token refresh: {error}: {description}; {hint}".replace(": ;", ";"),
        platform=platform,
        code=error,
        platform_message=description or None,
        status=status,
    )


def _error_of(body: dict[str, Any], status: int) -> tuple[str, str, int | None, bool]:
    """(error code, description, Meta's numeric code, Meta's is_transient) of an answer."""
    err = body.get("error")
    if isinstance(err, dict):  # Graph API: {"error": {"message", "type", "code", ...}}
        code = err.get("code")
        meta_code = code if isinstance(code, int) else None
        transient = bool(err.get("is_transient")) or meta_code in META_TRANSIENT
        name = str(err.get("type") or "OAuthException")
        return f"{name} {code}", str(err.get("message") or ""), meta_code, transient
    return str(err or f"HTTP {status}"), str(body.get("error_description") or ""), None, False


def _scrub(text: str, secrets: tuple[str | None, ...]) -> str:
    for value in secrets:
        if value and len(value) >= 6:  # as log.Redactor: shorter values would mangle words
            text = text.replace(value, "[redacted]")
    return text
