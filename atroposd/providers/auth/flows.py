"""What ``atroposd auth`` does per platform: log in (``LoginPlan.login``) and revoke at logout.

Each platform's ``login.py`` builds a ``LoginPlan`` from the same ``ProviderContext`` its
provider is built from (hosts, client ids, sandbox stand-ins); most are a ``CodeFlow`` run by
``run_code_flow``; X's OAuth 1.0a has its own three-legged flow (``providers/x/login.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import httpx

from atroposd.providers._http import guarded, json_body
from atroposd.providers.auth.login import (
    FORM,
    CodeFlow,
    LoginFailed,
    authorize_url,
    code_of,
    credentials_of,
    exchange_code,
    missing_scopes,
    new_state,
    pkce_pair,
    refusal_text,
)
from atroposd.providers.auth.redirect import Browser, Redirect
from atroposd.providers.base import Credentials
from atroposd.providers.spec import TITLES

Now = Callable[[], datetime]
Login = Callable[[httpx.AsyncClient, Browser, str, Mapping[str, str], Now], Awaitable[Credentials]]
Revoke = Callable[[httpx.AsyncClient, Credentials], Awaitable[None]]


@dataclass(frozen=True, repr=False)
class LoginPlan:
    """How one platform logs an account in and out."""

    platform: str
    login: Login  # (http, browser, account, hints, now) -> the credentials to store
    revoke: Revoke | None = None
    no_revoke: str = ""  # why the platform cannot be told (shown at logout)

    def __repr__(self) -> str:
        return f"LoginPlan({self.platform!r})"


async def run_code_flow(
    http: httpx.AsyncClient,
    flow: CodeFlow,
    browser: Browser,
    account: str,
    hints: Mapping[str, str],
    now: Now,
) -> Credentials:
    """Authorize, take the redirect, check ``state``, exchange the code, finish."""
    state = new_state()
    verifier, challenge = pkce_pair(flow.pkce)
    async with Redirect(browser) as redirect:
        url = authorize_url(flow, redirect.uri, state, challenge, hints)
        answer = await redirect.answer(url, flow.platform, account)
    code = code_of(flow.platform, answer, state)
    tokens = await exchange_code(http, flow, code, redirect.uri, verifier)
    missing = missing_scopes(flow, tokens)
    if missing:
        raise LoginFailed(
            f"{TITLES.get(flow.platform, flow.platform)}: the login did not grant "
            f"{', '.join(missing)}, which posting needs (unticked on the consent page?); "
            "nothing was stored: log in again and allow it"
        )
    if flow.finish is not None:
        return await flow.finish(http, tokens, now())
    return credentials_of(tokens, now())


def code_plan(flow: CodeFlow, revoke: Revoke | None = None, no_revoke: str = "") -> LoginPlan:
    """The plan of a platform that logs in with ``flow``."""

    async def login(
        http: httpx.AsyncClient, browser: Browser, account: str, hints: Mapping[str, str], now: Now
    ) -> Credentials:
        return await run_code_flow(http, flow, browser, account, hints, now)

    return LoginPlan(flow.platform, login, revoke, no_revoke)


async def post_revoke(
    http: httpx.AsyncClient,
    platform: str,
    url: str,
    form: Mapping[str, str],
    headers: Mapping[str, str] | None = None,
) -> None:
    """An RFC 7009-style revocation (form POST); ``LoginFailed`` when it is refused."""
    head = {"Content-Type": FORM, "Accept": "application/json", **(headers or {})}
    resp = await guarded(platform, "revoke", lambda: http.post(url, data=dict(form), headers=head))
    if resp.status_code >= 300:
        secrets_ = tuple(form.values())
        raise LoginFailed(
            f"{TITLES.get(platform, platform)} did not confirm the revocation "
            f"(HTTP {resp.status_code}: {refusal_text(json_body(resp), secrets_)})"
        )
