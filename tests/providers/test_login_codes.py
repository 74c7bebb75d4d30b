"""The login's code exchange against the emulator's OAuth endpoints (real HTTP on loopback):
a code is single-use and bound to its redirect URI and PKCE verifier, refused otherwise as
each platform refuses it; the client's PKCE (S256, TikTok's hex) and state check agree."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import httpx
import pytest

from atroposd.providers.auth.flows import run_code_flow
from atroposd.providers.auth.login import (
    CodeFlow,
    LoginFailed,
    authorize_url,
    code_of,
    exchange_code,
    pkce_pair,
)
from atroposd.providers.auth.redirect import Browser, parse_answer
from tests.support import Emulator

REDIRECT = "http://127.0.0.1:9/callback"  # never opened: the test reads the Location header


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path / "emulator-storage")
    try:
        yield emu
    finally:
        emu.close()


def _flow(emu: Emulator, platform: str) -> CodeFlow:
    base = f"{emu.url}/{platform}"
    flows = {
        "youtube": CodeFlow(
            "youtube",
            f"{base}/o/oauth2/v2/auth",
            f"{base}/token",
            "c",
            "s",
            ("a",),
            params={"access_type": "offline"},
        ),
        "tiktok": CodeFlow(
            "tiktok",
            f"{base}/v2/auth/authorize/",
            f"{base}/v2/oauth/token/",
            "k",
            "s",
            ("video.publish",),
            scope_sep=",",
            client_id_param="client_key",
            pkce="hex",
        ),
        "facebook": CodeFlow(
            "facebook",
            f"{base}/v26.0/dialog/oauth",
            f"{base}/v26.0/oauth/access_token",
            "app",
            "secret",
            ("pages_show_list",),
            pkce=None,
        ),
    }
    return flows[platform]


def _code(flow: CodeFlow, challenge: str, state: str = "st") -> str:
    """What the browser brings back: the code of an approved authorize request."""
    url = authorize_url(flow, REDIRECT, state, challenge, {"sandbox_account": "alice"})
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return code_of(flow.platform, parse_answer(answer.headers["location"]), state)


def _exchange(flow: CodeFlow, code: str, redirect: str, verifier: str) -> dict[str, object]:
    async def go() -> dict[str, object]:
        async with httpx.AsyncClient(timeout=10) as http:
            return await exchange_code(http, flow, code, redirect, verifier)

    return asyncio.run(go())


@pytest.mark.parametrize("platform", ["youtube", "tiktok"])
def test_a_code_takes_only_its_own_verifier_and_redirect_and_only_once(
    emulator: Emulator, platform: str
) -> None:
    flow = _flow(emulator, platform)
    verifier, challenge = pkce_pair(flow.pkce)
    other, _ = pkce_pair(flow.pkce)
    with pytest.raises(LoginFailed, match="verifier"):
        _exchange(flow, _code(flow, challenge), REDIRECT, other)
    with pytest.raises(LoginFailed, match="redirect_uri"):
        _exchange(flow, _code(flow, challenge), "http://127.0.0.1:10/callback", verifier)
    code = _code(flow, challenge)
    tokens = _exchange(flow, code, REDIRECT, verifier)
    assert tokens["access_token"] and tokens["refresh_token"]
    with pytest.raises(LoginFailed, match="invalid_grant") as used:
        _exchange(flow, code, REDIRECT, verifier)
    assert code not in str(used.value) and verifier not in str(used.value)


def test_google_gives_a_refresh_token_only_for_offline_access(emulator: Emulator) -> None:
    flow = _flow(emulator, "youtube")
    verifier, challenge = pkce_pair("S256")
    tokens = _exchange(flow, _code(flow, challenge), REDIRECT, verifier)
    assert tokens["refresh_token"]
    online = CodeFlow(**{**flow.__dict__, "params": {}})
    assert "refresh_token" not in _exchange(online, _code(online, challenge), REDIRECT, verifier)


def test_meta_refuses_another_redirect_with_graphs_error(emulator: Emulator) -> None:
    flow = _flow(emulator, "facebook")
    with pytest.raises(LoginFailed, match="redirect_uri is identical"):
        _exchange(flow, _code(flow, ""), "http://127.0.0.1:10/callback", "")
    tokens = _exchange(flow, _code(flow, ""), REDIRECT, "")
    assert str(tokens["access_token"]).startswith("sandbox:alice:")


def test_the_redirect_must_carry_this_logins_state(emulator: Emulator) -> None:
    flow = _flow(emulator, "youtube")
    url = authorize_url(flow, REDIRECT, "mine", "", {})
    location = httpx.get(url, follow_redirects=False, timeout=10).headers["location"]
    forged = location.replace("state=mine", "state=theirs")
    with pytest.raises(LoginFailed, match="state does not match"):
        code_of("youtube", parse_answer(forged), "mine")
    with pytest.raises(LoginFailed, match=r"refused the login: access_denied.*nothing was stored"):
        code_of("youtube", {"error": "access_denied", "state": "mine"}, "mine")
    with pytest.raises(LoginFailed, match="not the redirect address"):
        code_of("youtube", parse_answer("some text pasted by mistake"), "mine")
    assert code_of("youtube", parse_answer(location), "mine")


def test_a_login_that_did_not_grant_the_posting_scope_is_refused(emulator: Emulator) -> None:
    """The person unticked the upload scope on Google's consent page: nothing is returned."""
    upload = "https://www.googleapis.com/auth/youtube.upload"
    base = f"{emulator.url}/youtube"
    granted_only_read = CodeFlow(
        "youtube",
        f"{base}/o/oauth2/v2/auth",
        f"{base}/token",
        "c",
        "s",
        ("https://www.googleapis.com/auth/youtube.readonly",),
        params={"access_type": "offline"},
        required=(upload,),
    )

    def browse(url: str) -> None:
        threading.Thread(
            target=httpx.get, args=(url,), kwargs={"follow_redirects": True, "timeout": 30}
        ).start()

    async def login(flow: CodeFlow) -> object:
        browser = Browser(out=StringIO(), inp=StringIO(), open=browse, timeout=20)
        async with httpx.AsyncClient(timeout=10) as http:
            hints = {"sandbox_account": "alice"}
            return await run_code_flow(
                http, flow, browser, "alice", hints, lambda: datetime.now(UTC)
            )

    with pytest.raises(LoginFailed, match=r"did not grant .*youtube\.upload.*nothing was stored"):
        asyncio.run(login(granted_only_read))
    both = replace(granted_only_read, scopes=(upload, *granted_only_read.scopes))
    assert asyncio.run(login(both))
