"""A post parked because its login died is sent once the account logs in again (daemon running)."""

from __future__ import annotations

from atroposd.clock import SystemClock
from atroposd.domain import Attention, PostState
from atroposd.preflight import open_ledger
from atroposd.store.ledger import Ledger
from tests.integration.auth_support import Login, auth, status
from tests.support import Daemon, Emulator, Workspace, wait_for


def test_a_post_parked_for_a_dead_login_goes_out_after_auth_login(
    ws: Workspace, emulator: Emulator
) -> None:
    # The account's grant is revoked: its refresh token now answers invalid_grant.
    emulator.control("revoke", {"platform": "youtube", "account": "default"})
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        ws.drop("parked", seed=173)
        daemon.wait_event("ERR", clip="parked.mp4", platform="youtube")
        conn = open_ledger(ws.state)
        try:
            ledger = Ledger(conn, SystemClock())
            (post,) = ledger.list_posts([PostState.NEEDS_ATTENTION])
            assert post.attention == Attention.LOGIN
        finally:
            conn.close()
        assert emulator.posts() == []
        login = Login(ws, "youtube")
        login.browse()
        assert login.finish() == 0, login.text
        assert "1 post(s) waiting for this login will be sent again" in login.text
        daemon.wait_event("OK", clip="parked.mp4", platform="youtube", timeout=60)
        wait_for(lambda: len(emulator.posts()) == 1, 10, "the post on YouTube")
    finally:
        assert daemon.stop() == 0
    (row,) = status(ws)
    assert row["connected"] and row["platform"] == "youtube"


def test_logout_revokes_the_login_and_removes_the_file(ws: Workspace, emulator: Emulator) -> None:
    login = Login(ws, "youtube")
    login.browse()
    assert login.finish() == 0, login.text
    path = ws.root / "tokens" / "default" / "youtube.json.enc"
    assert path.exists()
    done = auth(ws, "logout", "youtube", "--account", "default")
    assert done.returncode == 0, done.stderr
    assert "YouTube revoked the login" in done.stdout
    assert not path.exists()
    (row,) = status(ws)
    assert not row["connected"] and "auth login youtube" in row["problem"]
    # The revoked grant is dead at the platform: the stand-in sandbox login is refused too.
    refused = emulator.http.post(
        "/youtube/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "sandbox:default:any",
            "client_id": "c",
            "client_secret": "s",
        },
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
