"""One login (``atroposd auth login``): the authorization-code flow every OAuth 2.0 platform
shares, as data (``CodeFlow``) plus the per-platform ``finish`` where it differs (Meta).

The steps (RFC 6749 §4.1, RFC 7636, RFC 8252 for a native app's loopback redirect):
a random ``state`` and a PKCE verifier where the platform takes one (S256; TikTok's desktop
Login Kit wants the SHA-256 as hex), the authorize URL with ``redirect_uri`` =
``http://127.0.0.1:<port>/callback``, the redirect back (``redirect.py``: a loopback listener or a
pasted URL), ``state`` compared in constant time, the code exchanged at once at the token
endpoint (form POST, the client secret in the body or as HTTP Basic), the answer turned into
``Credentials``. A refused login raises ``LoginFailed`` whose text names no token or secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from atroposd.errors import AtroposError
from atroposd.providers._http import guarded, json_body
from atroposd.providers.base import Credentials
from atroposd.providers.spec import TITLES

FORM = "application/x-www-form-urlencoded"
Finish = Callable[[httpx.AsyncClient, dict[str, Any], datetime], Awaitable[Credentials]]


class LoginFailed(AtroposError):
    """The login did not complete; nothing was stored. The text is safe to print."""


@dataclass(frozen=True, repr=False)
class CodeFlow:
    """How one platform runs the authorization-code flow (declared by its ``login.py``)."""

    platform: str
    authorize_url: str
    token_url: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    scope_sep: str = " "
    client_id_param: str = "client_id"  # TikTok: client_key
    pkce: str | None = "S256"  # "S256", "hex" (TikTok desktop) or None
    basic_auth: bool = False  # client credentials as HTTP Basic (X's confidential clients)
    params: Mapping[str, str] = field(default_factory=dict)  # e.g. Google's access_type
    # The scopes posting cannot do without: a consent page that lets the person untick one
    # (Google's granular consent, TikTok's toggleable scopes) must not end in a stored login
    # that fails at the first post. Checked against the token answer's ``scope`` when it has one.
    required: tuple[str, ...] = ()
    finish: Finish | None = None  # the answer -> Credentials (default: ``credentials_of``)

    def __repr__(self) -> str:
        return f"CodeFlow({self.platform!r}, <client redacted>)"


def new_state() -> str:
    """An unguessable ``state`` (CSRF protection of the redirect)."""
    return secrets.token_urlsafe(24)


def pkce_pair(kind: str | None) -> tuple[str, str]:
    """``(verifier, challenge)``; ``("", "")`` when the platform takes no PKCE."""
    if kind is None:
        return "", ""
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-] (RFC 7636 §4.1)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    if kind == "hex":
        return verifier, digest.hex()
    return verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def authorize_url(
    flow: CodeFlow,
    redirect_uri: str,
    state: str,
    challenge: str,
    hints: Mapping[str, str] | None = None,
) -> str:
    """The URL the user opens to approve the app."""
    query = {
        flow.client_id_param: flow.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": flow.scope_sep.join(flow.scopes),
        "state": state,
        **flow.params,
        **(hints or {}),
    }
    if challenge:
        query["code_challenge"] = challenge
        query["code_challenge_method"] = "S256"
    sep = "&" if "?" in flow.authorize_url else "?"
    return flow.authorize_url + sep + urlencode(query)


def code_of(flow_platform: str, answer: Mapping[str, str], state: str) -> str:
    """The code of a redirect answer whose ``state`` is this login's; else ``LoginFailed``."""
    title = TITLES.get(flow_platform, flow_platform)
    if answer.get("error"):
        why = answer.get("error_description") or answer.get("error_reason") or ""
        raise LoginFailed(
            f"{title} refused the login: {answer['error']} {why}".strip()
            + "; nothing was stored (run the login again and approve)"
        )
    if not answer.get("code"):
        raise LoginFailed(
            f"{title}: that is not the redirect address (expected "
            "http://127.0.0.1:<port>/callback?code=...&state=...); nothing was stored"
        )
    got = answer.get("state", "")
    if not hmac.compare_digest(got.encode(), state.encode()):
        raise LoginFailed(
            f"{title}: the redirect's state does not match this login's (an old or forged "
            "redirect, or the URL of another login pasted); nothing was stored, run the login "
            "again"
        )
    return answer["code"]


async def exchange_code(
    http: httpx.AsyncClient, flow: CodeFlow, code: str, redirect_uri: str, verifier: str
) -> dict[str, Any]:
    """The token endpoint's answer to the code (RFC 6749 §4.1.3), or ``LoginFailed``."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if verifier:
        form["code_verifier"] = verifier
    headers = {"Content-Type": FORM, "Accept": "application/json"}
    if flow.basic_auth:
        pair = f"{flow.client_id}:{flow.client_secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        form["client_id"] = flow.client_id
    else:
        form[flow.client_id_param] = flow.client_id
        form["client_secret"] = flow.client_secret
    resp = await guarded(
        flow.platform, "login", lambda: http.post(flow.token_url, data=form, headers=headers)
    )
    answer = json_body(resp)
    if resp.status_code == 200 and answer.get("access_token"):
        return answer
    raise LoginFailed(
        f"{TITLES.get(flow.platform, flow.platform)}: the code exchange was refused "
        f"(HTTP {resp.status_code}: {refusal_text(answer, (code, verifier, flow.client_secret))})"
    )


def refusal_text(answer: Mapping[str, Any], secrets_: tuple[str, ...]) -> str:
    """An error answer in a few words (RFC 6749 or Graph's envelope), secrets cut out."""
    err = answer.get("error")
    if isinstance(err, dict):  # Graph: {"error": {"message", "code", "error_subcode"}}
        text = f"{err.get('message', '')} (code {err.get('code')}/{err.get('error_subcode')})"
    else:
        text = f"{err or 'no token'}: {answer.get('error_description') or ''}".rstrip(": ")
    for value in secrets_:
        if value and len(value) >= 6:
            text = text.replace(value, "[redacted]")
    return text


def credentials_of(answer: Mapping[str, Any], now: datetime) -> Credentials:
    """A token endpoint's answer as vault credentials; the login's non-secret facts ride in
    ``extra`` until ``auth login`` moves them to the vault's notes file (``auth_cli.FACTS``)."""
    extra = {"obtained_at": now.isoformat()}
    scope = answer.get("scope")
    if isinstance(scope, str) and scope:
        extra["scope"] = scope
    refresh_life = seconds(answer.get("refresh_expires_in"))
    if refresh_life:
        extra["refresh_expires_at"] = (now + timedelta(seconds=refresh_life)).isoformat()
    life = seconds(answer.get("expires_in"))
    refresh = answer.get("refresh_token")
    return Credentials(
        access_token=str(answer["access_token"]),
        refresh_token=str(refresh) if refresh else None,
        expires_at=now + timedelta(seconds=life) if life else None,
        extra=extra,
    )


def seconds(value: object) -> int:
    """A lifetime in seconds from a token answer (0 when absent or not a number)."""
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 0


def missing_scopes(flow: CodeFlow, answer: Mapping[str, Any]) -> list[str]:
    """The required scopes the token answer says were not granted ([] when it names none)."""
    scope = answer.get("scope")
    if not isinstance(scope, str) or not scope.strip():
        return []
    granted = set(scope.replace(",", " ").split())
    return [s for s in flow.required if s not in granted]
