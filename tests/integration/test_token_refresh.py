"""Refresh ahead of expiry and a dead login (pipeline/tokens.py): the real job, the real OAuth
module, vault, ledger and emulator over loopback; only the daemon's clock is moved by hand."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs

from atroposd.bus import Bus
from atroposd.domain import Attention, FileIdentity, PostState
from atroposd.keys import new_key
from atroposd.pipeline.tokens import TokenRefresher
from atroposd.preflight import open_ledger
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials
from atroposd.providers.meta.tokens import meta_token_endpoint
from atroposd.store.ledger import Drop, Ledger
from atroposd.vault import Vault, notes
from tests.support import Emulator
from tests.unit.support import FakeClock

S = PostState
ACCOUNTS = ("a", "b")


def _ready_post(ledger: Ledger, folder: Path, account: str) -> int:
    video = folder / f"{account}.mp4"
    video.write_bytes(account.encode() * 100)  # the job never reads it
    drop = Drop(
        video_path=video,
        caption_path=None,
        sidecar_path=None,
        root=folder,
        clip_rel=video.name,
        caption=f"clip of {account}",
        sidecar_json=None,
        identity=FileIdentity.of(video),
    )
    sha = hashlib.sha256(account.encode()).hexdigest()
    (post,), _ = ledger.plan(sha, video.stat().st_size, account, ["youtube"], drop)
    assert ledger.transition(post.id, [S.PLANNED], S.READY) is not None
    return post.id


def _token_requests(emulator: Emulator) -> int:
    seen = emulator.http.get("/_emulator/requests").raise_for_status().json()
    return sum(1 for r in seen if r["path"] == "/youtube/token")


def _new_login(emulator: Emulator, account: str) -> str:
    """What `auth login` gets: a refresh token from a new consent (the emulator's code grant)."""
    form = {
        "grant_type": "authorization_code",
        "code": f"sandbox:{account}",
        "client_id": "cid",
        "client_secret": "csecret",
    }
    answer = emulator.http.post("/youtube/token", data=form).raise_for_status().json()
    return str(answer["refresh_token"])


def test_the_job_refreshes_before_the_end_and_parks_only_a_dead_login(
    tmp_path: Path, emulator: Emulator
) -> None:
    clock = FakeClock(datetime.now(UTC))
    tokens_dir = tmp_path / "tokens"
    vault = Vault(tokens_dir, new_key(), sandbox=False)
    for account in ACCOUNTS:
        vault.save(account, "youtube", Credentials("", f"sandbox:{account}:first-login"))
    (tmp_path / "clips").mkdir()
    ledger = Ledger(open_ledger(tmp_path / "state"), clock)
    post = {account: _ready_post(ledger, tmp_path / "clips", account) for account in ACCOUNTS}

    async def main() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "cid", "csecret")
            keeper = OAuth2Tokens(http, endpoint, vault, clock)
            job = TokenRefresher(
                http, lambda: ACCOUNTS, lambda a: ["youtube"], ledger, Bus(), tokens_dir, 600, clock
            )
            first = {a: await keeper.token(a) for a in ACCOUNTS}  # posts used them: 1 h tokens
            assert await job.tick() == 60.0  # nothing due for 50 minutes: look again in a minute
            assert _token_requests(emulator) == 2
            clock.advance(3000)  # 10 minutes before the end (TOKEN_REFRESH_MARGIN_SECONDS)
            await job.tick()
            assert _token_requests(emulator) == 4
            for account in ACCOUNTS:
                assert vault.load(account, "youtube").access_token not in ("", first[account])
                facts = notes(tokens_dir, account, "youtube")
                assert facts["last_refresh"] == clock.now().isoformat()
                assert "access_expires_at" in facts and "last_error" not in facts
            emulator.control("revoke", {"platform": "youtube", "account": "a"})
            clock.advance(3000)
            with capture_logs() as logs:
                await job.tick()
                asked = _token_requests(emulator)
                await job.tick()  # still dead: not asked again, no second ERR line
                await job.tick()
                assert _token_requests(emulator) == asked
            vault.save("a", "youtube", Credentials("", _new_login(emulator, "a")))  # logged in
            await job.tick()
            assert _token_requests(emulator) == asked + 1
            assert "last_error" not in notes(tokens_dir, "a", "youtube")
            return logs

    logs = asyncio.run(main())
    errs = [line for line in logs if line.get("log_level") == "error"]
    assert len(errs) == 1, errs
    assert errs[0]["event"] == "ERR"
    assert (errs[0]["account"], errs[0]["platform"]) == ("a", "youtube")
    assert "atroposd auth login youtube --account a" in errs[0]["next"]
    parked = ledger.get(post["a"])
    assert parked is not None and parked.state is S.NEEDS_ATTENTION
    assert parked.attention == Attention.LOGIN
    other = ledger.get(post["b"])
    assert other is not None and other.state is S.READY, "the other account goes on"


def test_a_login_stored_while_the_daemon_held_the_old_grant_is_used_not_parked(
    tmp_path: Path, emulator: Emulator
) -> None:
    vault = Vault(tmp_path / "tokens", new_key(), sandbox=False)
    vault.save("a", "youtube", Credentials("", "sandbox:a:first-login"))

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "cid", "csecret")
            keeper = OAuth2Tokens(http, endpoint, vault, FakeClock(datetime.now(UTC)))
            old = await keeper.token("a")  # cached in the daemon's memory
            emulator.control("revoke", {"platform": "youtube", "account": "a"})  # auth logout
            vault.save("a", "youtube", Credentials("", _new_login(emulator, "a")))  # auth login
            fresh = await keeper.refresh("a", rejected=old)  # the old grant: invalid_grant
            assert fresh.access_token not in ("", old)
            assert vault.load("a", "youtube").access_token == fresh.access_token

    asyncio.run(main())


def test_a_short_token_is_refreshed_half_a_lifetime_ahead_not_before_every_request(
    tmp_path: Path, emulator: Emulator
) -> None:
    vault = Vault(tmp_path / "tokens", new_key(), sandbox=False)
    vault.save("a", "youtube", Credentials("", "sandbox:a:first-login"))
    emulator.control("token_lifetime", {"platform": "youtube", "seconds": 60})
    clock = FakeClock(datetime.now(UTC))

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "cid", "csecret")
            keeper = OAuth2Tokens(http, endpoint, vault, clock)  # leeway: 60 s
            first = await keeper.token("a")
            clock.advance(29)
            assert await keeper.token("a") == first  # 31 s left of 60: still good
            clock.advance(2)
            assert await keeper.token("a") != first  # under half the lifetime left: refreshed

    asyncio.run(main())
    assert _token_requests(emulator) == 2


def test_a_refresh_that_fails_for_now_is_tried_again_after_a_backoff_not_at_once(
    tmp_path: Path, emulator: Emulator
) -> None:
    clock = FakeClock(datetime.now(UTC))
    vault = Vault(tmp_path / "tokens", new_key(), sandbox=False)
    vault.save("a", "youtube", Credentials("", "sandbox:a:first-login"))
    ledger = Ledger(open_ledger(tmp_path / "state"), clock)

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "cid", "csecret")
            keeper = OAuth2Tokens(http, endpoint, vault, clock)
            job = TokenRefresher(
                http,
                lambda: ["a"],
                lambda a: ["youtube"],
                ledger,
                Bus(),
                tmp_path / "tokens",
                600,
                clock,
            )
            await keeper.token("a")
            clock.advance(3000)  # due
            emulator.fault("token", nth=1, times=2, code=503)  # the platform is down for now
            with capture_logs() as logs:
                assert await job.tick() == 5.0  # not at once: after the first backoff
                assert await job.tick() == 5.0  # nothing asked meanwhile
            assert [ln["event"] for ln in logs] == ["token_refresh_failed"]
            assert _token_requests(emulator) == 2
            clock.advance(5)
            assert await job.tick() == 10.0  # failed again: the backoff doubles
            clock.advance(10)
            await job.tick()  # the platform is back
            assert _token_requests(emulator) == 4
            assert vault.load("a", "youtube").expires_at is not None

    asyncio.run(main())


def test_a_long_lived_meta_token_is_exchanged_a_week_before_its_60_days_end(
    tmp_path: Path, emulator: Emulator
) -> None:
    clock = FakeClock(datetime.now(UTC))
    vault = Vault(tmp_path / "tokens", new_key(), sandbox=False)
    ledger = Ledger(open_ledger(tmp_path / "state"), clock)
    url = f"{emulator.url}/instagram/v26.0/oauth/access_token"
    form = {"grant_type": "fb_exchange_token", "client_id": "app", "client_secret": "s3cret"}
    login = emulator.http.post(url, data={**form, "fb_exchange_token": "sandbox:a:login"}).json()
    ends = clock.now() + timedelta(seconds=login["expires_in"])  # ~60 days, as a login stores
    vault.save("a", "instagram", Credentials(login["access_token"], expires_at=ends))

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            keeper = OAuth2Tokens(
                http, meta_token_endpoint("instagram", url, "app", "s3cret"), vault, clock
            )
            job = TokenRefresher(
                http,
                lambda: ["a"],
                lambda a: ["instagram"],
                ledger,
                Bus(),
                tmp_path / "tokens",
                600,
                clock,
            )
            await keeper.token("a")  # a post used it
            clock.advance(52 * 86400)  # 8 days left
            await job.tick()
            assert vault.load("a", "instagram").access_token == login["access_token"]
            clock.advance(2 * 86400)  # 6 days left: within the last week
            await job.tick()
            fresh = vault.load("a", "instagram")
            assert fresh.access_token != login["access_token"]
            assert fresh.expires_at is not None and fresh.expires_at > ends

    asyncio.run(main())


def test_an_unreadable_token_folder_is_a_failure_for_now_of_that_login_not_of_the_job(
    tmp_path: Path, emulator: Emulator
) -> None:
    """A file where account b's token folder should be: b's refresh waits a backoff with one
    warning; the job (and account a's refresh) goes on instead of crashing every pass."""
    clock = FakeClock(datetime.now(UTC))
    tokens = tmp_path / "tokens"
    vault = Vault(tokens, new_key(), sandbox=False)
    vault.save("a", "youtube", Credentials("", "sandbox:a:first-login"))
    (tokens / "b").write_text("not a folder")
    ledger = Ledger(open_ledger(tmp_path / "state"), clock)

    async def main() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "cid", "csecret")
            keeper = OAuth2Tokens(http, endpoint, vault, clock)
            job = TokenRefresher(
                http, lambda: ACCOUNTS, lambda a: ["youtube"], ledger, Bus(), tokens, 600, clock
            )
            first = await keeper.token("a")
            clock.advance(3000)
            with capture_logs() as logs:
                assert await job.tick() == 5.0  # b again after the first backoff
                await job.tick()  # within b's backoff: no second line
            assert vault.load("a", "youtube").access_token not in ("", first)
            return logs

    logs = asyncio.run(main())
    failed = [ln for ln in logs if ln["event"] == "token_refresh_failed"]
    assert [(ln["account"], ln["log_level"]) for ln in failed] == [("b", "warning")], logs
    assert str(tmp_path / "tokens" / "b") in failed[0]["error"]
