"""Each platform's login plan in-process against the emulator over loopback: the loopback
listener takes the redirect a "browser" (an httpx client in a thread) brings back, the tokens
work, and logout's revocation makes the platform refuse them (where it has one)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.emulator.oauth_meta import default_page
from atroposd.providers.auth import OAuth1Keys, oauth1_header
from atroposd.providers.auth.login import LoginFailed
from atroposd.providers.auth.logins import LOGINS
from atroposd.providers.auth.redirect import Browser
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.providers.meta.login import MetaApp, dialog_url, meta_plan
from tests.support import Emulator


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path / "emulator-storage")
    try:
        yield emu
    finally:
        emu.close()


class _Store:
    def load(self, account: str, platform: str) -> Credentials:
        raise AssertionError("a login reads no stored credentials")

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        raise AssertionError("a login plan stores nothing itself")


def _browse(url: str) -> None:
    """What the browser does with the URL, in its own thread as a browser would."""
    thread = threading.Thread(
        target=httpx.get, args=(url,), kwargs={"follow_redirects": True, "timeout": 30}
    )
    thread.start()


def _now() -> datetime:
    return datetime.now(UTC)


def _refused(emu: Emulator, platform: str, creds: Credentials) -> int:
    """The status the platform answers the login's tokens with now (none was used yet)."""
    if platform in ("youtube", "tiktok", "x-oauth2"):
        path = {"youtube": "/youtube/token", "tiktok": "/tiktok/v2/oauth/token/"}.get(
            platform, "/x/2/oauth2/token"
        )
        form = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token or ""}
        client = {"client_id": "sandbox-client-id", "client_key": "sandbox-client-key"}
        form.update(client, client_secret="sandbox-client-secret")
        return emu.http.post(path, data=form).status_code
    if platform in ("facebook", "instagram"):
        head = {"Authorization": f"OAuth {creds.access_token}"}
        return emu.http.get(f"/{platform}/v26.0/me/accounts", headers=head).status_code
    keys = OAuth1Keys.of("sandbox-consumer-key", "sandbox-consumer-secret", creds)
    url = f"{emu.url}/x/2/users/me"
    return httpx.get(url, headers={"Authorization": oauth1_header(keys, "GET", url)}).status_code


@pytest.mark.parametrize(
    "platform", ["youtube", "tiktok", "snapchat", "facebook", "instagram", "x-oauth2", "x-oauth1"]
)
def test_a_plan_logs_in_over_loopback_and_logout_revokes(emulator: Emulator, platform: str) -> None:
    name, _, mode = platform.partition("-")

    async def go() -> tuple[Credentials, str]:
        async with httpx.AsyncClient(timeout=10) as http:
            ctx = ProviderContext(
                http, _Store(), SystemClock(), True, emulator.url, 1 << 20, {}, {}
            )
            plan = LOGINS[name](ctx, "alice", {"auth": mode} if mode else {})
            out = StringIO()
            browser = Browser(out=out, inp=StringIO(), open=_browse, timeout=20)
            creds = await plan.login(http, browser, "alice", {"sandbox_account": "alice"}, _now)
            assert "Waiting for the redirect to http://127.0.0.1:" in out.getvalue()
            if plan.revoke is None:
                return creds, plan.no_revoke
            await plan.revoke(http, creds)
            return creds, ""

    creds, no_revoke = asyncio.run(go())
    assert creds.access_token
    if name == "snapchat":
        assert "Snap Business Manager" in no_revoke
        return
    assert _refused(emulator, platform, creds) in (400, 401)


def test_x_oauth1_refused_request_token_names_the_callback_to_allow(emulator: Emulator) -> None:
    async def go() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            secrets = {"X_CONSUMER_KEY": "not-this-app", "X_CONSUMER_SECRET": "nor-this-secret"}
            ctx = ProviderContext(
                http, _Store(), SystemClock(), True, emulator.url, 1 << 20, secrets, {}
            )
            plan = LOGINS["x"](ctx, "alice", {"auth": "oauth1"})
            browser = Browser(out=StringIO(), inp=StringIO(), open=_browse, port=0, timeout=20)
            with pytest.raises(LoginFailed) as failed:
                await plan.login(http, browser, "alice", {}, _now)
            return str(failed.value)

    text = asyncio.run(go())
    assert "allowlist holds exactly http://127.0.0.1:" in text and "/callback" in text, text
    assert "not-this-app" not in text and "nor-this-secret" not in text


@pytest.mark.parametrize(
    ("platform", "unticked"),
    [("facebook", "pages_manage_posts"), ("instagram", "instagram_content_publish")],
)
def test_a_meta_login_without_the_publishing_permission_is_refused(
    emulator: Emulator, platform: str, unticked: str
) -> None:
    doc = {"account": "alice", "pages": [default_page("alice")], "declined": [unticked]}
    emulator.http.post("/_emulator/oauth/pages", json=doc).raise_for_status()

    async def go() -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            ctx = ProviderContext(
                http, _Store(), SystemClock(), True, emulator.url, 1 << 20, {}, {}
            )
            plan = LOGINS[platform](ctx, "alice", {})
            browser = Browser(out=StringIO(), inp=StringIO(), open=_browse, timeout=20)
            with pytest.raises(LoginFailed) as failed:
                await plan.login(http, browser, "alice", {"sandbox_account": "alice"}, _now)
            return str(failed.value)

    text = asyncio.run(go())
    assert f"did not grant {unticked}" in text and "nothing was stored" in text, text


@pytest.mark.parametrize("platform", ["facebook", "instagram"])
def test_a_meta_login_with_no_id_configured_says_which_it_can_post_to(
    emulator: Emulator, platform: str
) -> None:
    graph = f"{emulator.url}/{platform}/v26.0"
    app = MetaApp(
        platform=platform,
        graph=graph,
        dialog=dialog_url(True, graph, "v26.0"),
        app_id="sandbox-meta-app-id",
        app_secret="sandbox-meta-app-secret",
        scopes=("pages_show_list",),
        page_id=None,
        ig_user_id=None,
        where="the account's ids",
        hint_ids=True,  # as in production, where no stand-in id exists
    )

    async def go() -> Credentials:
        async with httpx.AsyncClient(timeout=10) as http:
            browser = Browser(out=StringIO(), inp=StringIO(), open=_browse, timeout=20)
            return await meta_plan(app).login(
                http, browser, "alice", {"sandbox_account": "alice"}, _now
            )

    choices = asyncio.run(go()).extra["choices"]
    page = default_page("alice")
    expected = page["id"] if platform == "facebook" else page["instagram_business_account"]
    assert "posts will be refused until one is set" in choices and expected in choices, choices
