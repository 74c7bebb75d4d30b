"""``atroposd auth login`` end to end against the emulator's OAuth endpoints over loopback.

The CLI runs as a child process; the test's "browser" is an httpx client that opens the URL
it printed and follows the redirects to its loopback callback (or, headless, stops at the
redirect and pastes the address). Then a clip posts with the stored tokens, and ``auth status
--json`` shows the logins, never a token.
"""

from __future__ import annotations

import stat

import httpx
import pytest

from atroposd.emulator.oauth_meta import default_page
from atroposd.providers import PLATFORMS
from tests.integration.auth_support import (
    Login,
    auth,
    issued,
    status,
    stored,
    token_files,
)
from tests.support import Daemon, Emulator, Workspace


@pytest.mark.timeout(360)  # six logins and a post: ~70 s at load 15; 120 s ran out at load 23
def test_every_platform_logs_in_then_a_clip_posts_with_the_stored_tokens(
    ws: Workspace, emulator: Emulator
) -> None:
    platforms = sorted(PLATFORMS)
    ws.use_platforms(*platforms)
    outputs = []
    for platform in platforms:
        login = Login(ws, platform)
        page = login.browse()
        assert page.status_code == 200 and "close this tab" in page.text, page.text
        assert login.finish() == 0, login.text
        assert "is logged in" in login.text, login.text
        outputs.append(login.text)
    values = issued(emulator)
    _no_plaintext_and_private(ws, values)
    logins = {p: stored(ws, "default", p) for p in platforms}
    for platform, creds in logins.items():  # what the login stored is what the emulator issued
        assert creds.access_token in values, platform
        assert creds.refresh_token is None or creds.refresh_token in values, platform
        assert "obtained_at" not in creds.extra and "scope" not in creds.extra, platform
    ws.drop("loggedin", seed=171)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.stderr)
    posts = emulator.posts()
    assert sorted(p["platform"] for p in posts) == platforms, posts
    assert {p["account"] for p in posts} == {"default"}
    for platform in platforms:  # posted with the login's tokens: none made up, none replaced
        assert stored(ws, "default", platform) == logins[platform], platform
    rows = status(ws)
    assert sorted(r["platform"] for r in rows) == platforms
    for row in rows:
        assert row["connected"] and row["source"] == "login", row
        assert row["access_expires_at"] and row["scopes"], row
    shown = auth(ws, "status")
    said = "".join(outputs) + shown.stdout + shown.stderr + "".join(run.raw) + "".join(run.stderr)
    leaked = [v for v in values if v in said]
    assert leaked == [], "a token was printed"


def _no_plaintext_and_private(ws: Workspace, values: list[str]) -> None:
    """Every file under TOKENS_DIR: no issued token value in it, 0600, in 0700 folders."""
    files = token_files(ws)
    assert files
    for path in files:
        data = path.read_bytes()
        assert [v for v in values if v.encode() in data] == [], path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    assert stat.S_IMODE((ws.root / "tokens").stat().st_mode) == 0o700


def test_headless_login_takes_the_pasted_redirect_address(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("x", x={"auth": "oauth1"})  # X's OAuth 1.0a three-legged flow
    login = Login(ws, "x", "default", "--no-browser")
    # The browser is on another machine: it ends on an address that does not load there.
    answer = httpx.get(login.url(), follow_redirects=False, timeout=10)
    assert answer.status_code == 302
    address = answer.headers["location"]
    assert address.startswith("http://127.0.0.1:") and "/callback?" in address
    login.paste(address)
    assert login.finish() == 0, login.text
    creds = stored(ws, "default", "x")
    values = issued(emulator)
    assert creds.access_token in values and creds.extra["token_secret"] in values
    _no_plaintext_and_private(ws, values)  # the OAuth 1.0a pair too
    ws.drop("pasted", seed=172)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.stderr)
    assert [p["platform"] for p in emulator.posts()] == ["x"]


def test_a_redirect_with_another_state_is_refused_and_nothing_is_stored(
    ws: Workspace, emulator: Emulator
) -> None:
    login = Login(ws, "youtube")
    answer = httpx.get(login.url(), follow_redirects=False, timeout=10)
    forged = httpx.URL(answer.headers["location"]).copy_set_param("state", "forged-state")
    httpx.get(forged, timeout=10)
    assert login.finish() == 1
    assert "state does not match" in login.text, login.text
    assert not (ws.root / "tokens" / "default" / "youtube.json.enc").exists()
    pending = emulator.http.get("/_emulator/oauth/codes").json()["pending"]
    assert pending == 1, "the code of a refused redirect must not be exchanged"


def test_a_meta_login_for_another_instagram_account_names_both_ids(
    ws: Workspace, emulator: Emulator
) -> None:
    configured = "17841000000000001"
    ws.use_platforms("instagram", instagram={"ig_user_id": configured})
    login = Login(ws, "instagram")
    login.browse()
    assert login.finish() == 1
    linked = default_page("default")["instagram_business_account"]
    assert configured in login.text and linked in login.text, login.text
    assert "Traceback" not in login.text
    assert not (ws.root / "tokens" / "default" / "instagram.json.enc").exists()
    emulator.http.post(
        "/_emulator/oauth/pages",
        json={
            "account": "default",
            "pages": [{"id": "1234", "instagram_business_account": configured}],
        },
    ).raise_for_status()
    again = Login(ws, "instagram")
    again.browse()
    assert again.finish() == 0, again.text
    (row,) = status(ws)
    assert row["connected"] and row["ig_user_id"] == configured, row
