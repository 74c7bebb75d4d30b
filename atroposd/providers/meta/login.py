"""Facebook Login for Instagram and Facebook Pages (providers.md §2.2).

code -> short-lived user token -> long-lived user token (``fb_exchange_token``, ~60 days) ->
``GET /me/accounts`` (the Pages the person manages, each with its Page token and linked
Instagram business account), checked against the ids configured for the account: the Page
id of ``facebook`` must be one of them (with a Page token: the person can post there), the
Instagram id of ``instagram`` must be the one linked to a Page (to the configured Page when
the account has one). A mismatch is a ``LoginFailed`` naming both ids; nothing is stored.

What is stored is what ``MetaTokens`` reads: the long-lived user token with its expiry (renewed
with ``fb_exchange_token`` before it ends; Facebook derives its Page token from it); the
scopes asked, when it was obtained and the ids checked go to the notes file (``auth_cli``).
No PKCE: the app is a confidential client with its secret. At logout, ``DELETE
/me/permissions`` de-authorises the app for the person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from atroposd.providers._http import guarded, json_body
from atroposd.providers.auth.flows import LoginPlan, code_plan
from atroposd.providers.auth.login import FORM, CodeFlow, LoginFailed, refusal_text, seconds
from atroposd.providers.base import Credentials
from atroposd.providers.spec import TITLES

DIALOG_HOST = "https://www.facebook.com"
FIELDS = "id,name,access_token,instagram_business_account"


@dataclass(frozen=True, repr=False)
class MetaApp:
    """One Meta platform's login settings; never logged (the app secret)."""

    platform: str
    graph: str  # the Graph root with its version, e.g. https://graph.facebook.com/v26.0
    dialog: str  # the Login dialog URL
    app_id: str
    app_secret: str
    scopes: tuple[str, ...]
    page_id: str | None  # the Page the account posts to (facebook), if configured
    ig_user_id: str | None  # the Instagram account (instagram), if configured
    where: str  # the config keys, for messages
    required: tuple[str, ...] = ()  # the permissions posting needs (the person may untick them)
    hint_ids: bool = False  # no id configured: say which ones this login could post to


def dialog_url(sandbox: bool, graph: str, version: str) -> str:
    """``https://www.facebook.com/<ver>/dialog/oauth`` (sandbox: under the Graph root)."""
    return f"{graph}/dialog/oauth" if sandbox else f"{DIALOG_HOST}/{version}/dialog/oauth"


def meta_plan(app: MetaApp) -> LoginPlan:
    """The login of one Meta platform."""
    flow = CodeFlow(
        platform=app.platform,
        authorize_url=app.dialog,
        token_url=f"{app.graph}/oauth/access_token",
        client_id=app.app_id,
        client_secret=app.app_secret,
        scopes=app.scopes,
        scope_sep=",",
        pkce=None,
        finish=_finisher(app),
    )

    async def revoke(http: httpx.AsyncClient, creds: Credentials) -> None:
        url = f"{app.graph}/me/permissions"
        head = {"Authorization": f"OAuth {creds.access_token}"}
        resp = await guarded(app.platform, "revoke", lambda: http.delete(url, headers=head))
        if resp.status_code >= 300:
            why = refusal_text(json_body(resp), (creds.access_token,))
            raise LoginFailed(f"{_title(app)} did not confirm the de-authorisation ({why})")

    return code_plan(flow, revoke)


def _title(app: MetaApp) -> str:
    return TITLES.get(app.platform, app.platform)


def _finisher(
    app: MetaApp,
) -> Callable[[httpx.AsyncClient, dict[str, Any], datetime], Any]:
    async def finish(http: httpx.AsyncClient, short: dict[str, Any], now: datetime) -> Credentials:
        long = await _long_lived(http, app, str(short["access_token"]))
        await _check_granted(http, app, str(long["access_token"]))
        pages = await _pages(http, app, str(long["access_token"]))
        extra = {"scope": ",".join(app.scopes), "obtained_at": now.isoformat()}
        extra.update(_checked(app, pages))
        choices = _choices(app, pages)
        if choices:
            extra["choices"] = choices  # for the terminal only (auth_cli.FACTS): never stored
        life = seconds(long.get("expires_in"))
        return Credentials(
            access_token=str(long["access_token"]),
            refresh_token=None,
            expires_at=now + timedelta(seconds=life) if life else None,
            extra=extra,
        )

    return finish


async def _long_lived(http: httpx.AsyncClient, app: MetaApp, short: str) -> dict[str, Any]:
    form = {
        "grant_type": "fb_exchange_token",
        "client_id": app.app_id,
        "client_secret": app.app_secret,
        "fb_exchange_token": short,
    }
    head = {"Content-Type": FORM, "Accept": "application/json"}
    url = f"{app.graph}/oauth/access_token"
    resp = await guarded(app.platform, "login", lambda: http.post(url, data=form, headers=head))
    answer = json_body(resp)
    if resp.status_code != 200 or not answer.get("access_token"):
        why = refusal_text(answer, (short, app.app_secret))
        raise LoginFailed(f"{_title(app)}: the long-lived token exchange was refused ({why})")
    return answer


async def _check_granted(http: httpx.AsyncClient, app: MetaApp, token: str) -> None:
    """Facebook Login lets the person untick permissions ("Edit access"): a login without one
    posting needs is refused by name. A ``/me/permissions`` that cannot be read refuses nothing
    (the Page checks and the first post still tell)."""
    if not app.required:
        return
    url = f"{app.graph}/me/permissions"
    head = {"Authorization": f"OAuth {token}"}
    resp = await guarded(app.platform, "login", lambda: http.get(url, headers=head))
    data = json_body(resp).get("data")
    if resp.status_code != 200 or not isinstance(data, list):
        return
    granted = {
        str(p.get("permission"))
        for p in data
        if isinstance(p, dict) and p.get("status") == "granted"
    }
    missing = [p for p in app.required if p not in granted]
    if missing:
        raise LoginFailed(
            f"{_title(app)}: the login did not grant {', '.join(missing)}, which posting needs "
            "(unticked under 'Edit access'?); nothing was stored: log in again and allow it"
        )


async def _pages(http: httpx.AsyncClient, app: MetaApp, token: str) -> list[dict[str, Any]]:
    url = f"{app.graph}/me/accounts"
    head = {"Authorization": f"OAuth {token}"}
    resp = await guarded(
        app.platform,
        "login",
        lambda: http.get(url, params={"fields": FIELDS, "limit": "100"}, headers=head),
    )
    answer = json_body(resp)
    data = answer.get("data")
    if resp.status_code != 200 or not isinstance(data, list):
        why = refusal_text(answer, (token,))
        raise LoginFailed(f"{_title(app)}: cannot list the Pages of this login ({why})")
    return [p for p in data if isinstance(p, dict)]


def _linked(page: dict[str, Any]) -> str | None:
    ig = page.get("instagram_business_account")
    return str(ig["id"]) if isinstance(ig, dict) and ig.get("id") else None


def _choices(app: MetaApp, pages: list[dict[str, Any]]) -> str:
    """When the account names no id to post to: the ones this login manages, for the user to
    pick (production; posts are refused until one is configured). "" when nothing to say."""
    if not app.hint_ids:
        return ""
    if app.platform == "facebook" and app.page_id is None:
        found = [f"{p.get('id')} ({p.get('name', '')})" for p in pages if p.get("access_token")]
        what = "Facebook Page id"
    elif app.platform == "instagram" and app.ig_user_id is None:
        found = [f"{_linked(p)} (Page {p.get('id')})" for p in pages if _linked(p)]
        what = "Instagram business account id"
    else:
        return ""
    return (
        f"no {what} is configured ({app.where}), so posts will be refused until one is set; "
        f"this login can post to: {', '.join(found) or 'none'}"
    )


def _checked(app: MetaApp, pages: list[dict[str, Any]]) -> dict[str, str]:
    """The ids this login was checked against (for ``extra``), or ``LoginFailed``."""
    by_id = {str(p.get("id")): p for p in pages}
    listed = ", ".join(sorted(by_id)) or "none"
    facts: dict[str, str] = {}
    if app.page_id is not None:
        page = by_id.get(app.page_id)
        if page is None:
            raise LoginFailed(
                f"{_title(app)}: the configured Page {app.page_id} ({app.where}) is not a Page "
                f"this login manages (it manages: {listed}); log in as a person with a role on "
                f"Page {app.page_id}, or fix the id; nothing was stored"
            )
        if app.platform == "facebook" and not page.get("access_token"):
            raise LoginFailed(
                f"Facebook: no Page token for Page {app.page_id}: the person must be able to "
                "create content there and grant pages_manage_posts; nothing was stored"
            )
        facts["page_id"] = app.page_id
    if app.ig_user_id is not None:
        linked = {pid: _linked(p) for pid, p in by_id.items() if _linked(p)}
        if app.page_id is not None and linked.get(app.page_id) != app.ig_user_id:
            raise LoginFailed(
                f"Instagram: Page {app.page_id} is linked to Instagram account "
                f"{linked.get(app.page_id) or 'none'}, but the configured Instagram account is "
                f"{app.ig_user_id} ({app.where}); nothing was stored"
            )
        if app.ig_user_id not in linked.values():
            found = ", ".join(f"{ig} (Page {pid})" for pid, ig in sorted(linked.items()))
            raise LoginFailed(
                f"Instagram: the configured Instagram account {app.ig_user_id} ({app.where}) is "
                f"not linked to any Page this login manages (linked: {found or 'none'}); "
                "nothing was stored"
            )
        facts["ig_user_id"] = app.ig_user_id
    return facts
