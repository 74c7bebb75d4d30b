"""TikTok rotates the refresh token on every refresh and the one sent stops working at once
(developers.tiktok.com/docs/en/oauth-refresh-a-user-access-token, 2026-11). A real process with
the daemon's own vault is killed with SIGKILL around a refresh (must-show 3).

- Killed at the first request made with the new access token (the earliest moment anyone
  outside the process can tell the answer arrived): the rotated refresh token is already on
  disk, the old one is refused, and the next process posts with the stored one.
- Killed while the token answer is still on its way (TikTok rotated, the process never saw the
  new token): nothing on our side can keep a token it never received. The next process gets
  ``invalid_grant``, the post waits for a human ("log in again"), nothing is posted twice or
  half-way. This window is the network round trip of the token request; see the report.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from atroposd.domain import Post, PostState
from atroposd.errors import ReauthRequired, TransientError
from atroposd.providers import REGISTRY
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.providers.harness import Harness, context, make_request, run
from tests.providers.pipeline import Pipeline
from tests.providers.tiktok_support import TIKTOK, publishes, two_chunk_media
from tests.support import REPO, Emulator, wait_for

OLD = "sandbox:alice:before-rotation"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_chunk_media(tmp_path_factory.mktemp("tiktok-tokens") / "clip.mp4")


def start_child(
    emulator: Emulator, media: Path, home: Path, tokens: Path, key: str
) -> tuple[subprocess.Popen[str], int]:
    args = ["tests.providers.tiktok_child", emulator.url, str(media), str(home), str(tokens), key]
    child = subprocess.Popen(
        [sys.executable, "-m", *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    return child, int((child.stdout or io.StringIO()).readline())


def kill(child: subprocess.Popen[str]) -> None:
    child.kill()  # SIGKILL
    child.wait(30)
    if child.stdout:
        child.stdout.close()


def seen(emulator: Emulator, step: str) -> int:
    rules = emulator.http.get("/_emulator/faults").json()
    return sum(r["seen"] for r in rules if r["platform"] == "tiktok" and r["step"] == step)


def refresh_answer(emulator: Emulator, refresh_token: str) -> str:
    form = {
        "client_key": "k",
        "client_secret": "s",
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return str(emulator.http.post("/tiktok/v2/oauth/token/", data=form).json().get("error", "ok"))


def test_kill_9_once_the_new_token_is_used_keeps_the_rotated_refresh_token(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    key, home, tokens = Fernet.generate_key().decode(), tmp_path / "home", tmp_path / "tokens"
    Vault(tokens, key, sandbox=False).save("alice", "tiktok", Credentials("", refresh_token=OLD))
    # The first request with the new access token (creator_info) is held: kill the child there
    # (times=2 keeps the rule listed, with its count, after it fired once).
    emulator.faults(
        {"platform": "tiktok", "step": "creator_info", "action": "delay", "seconds": 60, "times": 2}
    )
    child, post_id = start_child(emulator, media, home, tokens, key)
    try:
        wait_for(lambda: seen(emulator, "creator_info") >= 1, 60.0, "creator_info with the token")
    finally:
        kill(child)
    emulator.http.delete("/_emulator/faults").raise_for_status()

    stored = Vault(tokens, key, sandbox=False).load("alice", "tiktok")
    issued = [t["access_token"] for t in emulator.http.get("/_emulator/tokens").json()]
    assert stored.refresh_token not in (None, OLD), "the rotated refresh token was lost"
    assert stored.access_token == issued[-1], "the token in use was not stored first"
    assert refresh_answer(emulator, OLD) == "invalid_grant", "TikTok still takes the old one"

    async def scenario(h: Harness) -> None:
        done = await restarted(h, home, tokens, key, post_id)
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 1
        again = Vault(tokens, key, sandbox=False).load("alice", "tiktok")
        assert again.refresh_token == stored.refresh_token, "no refresh was needed"

    run(TIKTOK, emulator, make_request(media), scenario)


def test_kill_9_before_the_token_answer_arrives_asks_for_a_login_and_posts_nothing(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    key, home, tokens = Fernet.generate_key().decode(), tmp_path / "home", tmp_path / "tokens"
    Vault(tokens, key, sandbox=False).save("alice", "tiktok", Credentials("", refresh_token=OLD))
    emulator.faults(
        {"platform": "tiktok", "step": "token", "action": "commit_then_hang", "hold": 60}
    )
    child, post_id = start_child(emulator, media, home, tokens, key)
    try:
        wait_for(lambda: emulator.http.get("/_emulator/tokens").json(), 60.0, "a rotation")
    finally:
        kill(child)
    emulator.http.delete("/_emulator/faults").raise_for_status()
    assert Vault(tokens, key, sandbox=False).load("alice", "tiktok").refresh_token == OLD

    async def scenario(h: Harness) -> None:
        done = await restarted(h, home, tokens, key, post_id)
        assert done.state is PostState.NEEDS_ATTENTION, (done.state, done.last_error)
        assert "log in" in (done.last_error or "")
        assert await h.posts() == [] and await publishes(h) == []

    run(TIKTOK, emulator, make_request(media), scenario)


async def restarted(h: Harness, home: Path, tokens: Path, key: str, post_id: int) -> Post:
    """The next process: the TikTok provider on the same vault and ledger drives the post."""
    h.pipeline.close()
    async with httpx.AsyncClient(timeout=10.0) as http:
        vault = Vault(tokens, key, sandbox=False)
        provider = REGISTRY["tiktok"](context(TIKTOK, h.emulator.url, http, vault))  # type: ignore[arg-type]
        h.pipeline = Pipeline.build(provider, home, 30.0)
        return await h.pipeline.drive(post_id, 30.0)


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        ("invalid_grant", ReauthRequired),
        ("invalid_client", ReauthRequired),
        ("temporarily_unavailable", TransientError),
        ("server_error", TransientError),
    ],
)
def test_a_token_error_answered_with_http_200_is_read_from_the_body(
    emulator: Emulator, media: Path, error: str, raised: type[Exception]
) -> None:
    """TikTok documents only the body of OAuth errors (developers.tiktok.com/doc/oauth-error-
    handling); clients have seen them with HTTP 200 (HohnerJulian/ResearchTikPy#28). A dead
    login must ask for a login, not be retried forever as a blip."""

    async def scenario(h: Harness) -> None:
        body = {"error": error, "error_description": "Refresh token is invalid.", "log_id": "x"}
        await h.fault("auth", "status", code=200, body=body)
        with pytest.raises(raised) as info:
            await h.upload()
        if raised is ReauthRequired:
            assert error in str(info.value), str(info.value)
        assert await publishes(h) == []

    run(TIKTOK, emulator, make_request(media), scenario)
