"""OAuth 2.0 refresh (providers/auth): against the real emulator over loopback, real vault files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from structlog.testing import capture_logs

from atroposd.clock import SystemClock
from atroposd.errors import ReauthRequired, TransientError
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.support import Emulator

ACCOUNT = "acct"
CLIENT_SECRET = "oauth-test-client-secret"
ROTATING = f"sandbox:{ACCOUNT}:rotate-first-login"


def vault(tmp_path: Path) -> Vault:
    key = tmp_path / "key"
    if not key.exists():
        key.write_text(Fernet.generate_key().decode())
    return Vault(tmp_path / "tokens", key.read_text(), sandbox=False)


def count_token_requests(emulator: Emulator) -> Callable[[], int]:
    """Install a rule that never fires and read how many token requests it saw."""
    emulator.fault("token", nth=10_000, action="delay")

    def seen() -> int:
        rules = emulator.http.get("/_emulator/faults").raise_for_status().json()
        return int(rules[0]["seen"])

    return seen


def run(
    emulator: Emulator,
    store: Any,
    body: Callable[[OAuth2Tokens, httpx.AsyncClient], Awaitable[None]],
) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint(
                "youtube", f"{emulator.url}/youtube/token", "oauth-test-client", CLIENT_SECRET
            )
            await body(OAuth2Tokens(http, endpoint, store, SystemClock()), http)

    asyncio.run(main())


async def list_videos(http: httpx.AsyncClient, emulator: Emulator, token: str) -> int:
    resp = await http.get(
        f"{emulator.url}/youtube/youtube/v3/videos",
        params={"part": "status", "id": "none"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return resp.status_code


def test_two_concurrent_refreshes_make_one_token_request_and_store_the_rotated_token(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    seen = count_token_requests(emulator)

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        first, second = await asyncio.gather(tokens.token(ACCOUNT), tokens.token(ACCOUNT))
        assert first == second, "the waiting caller must use the token just refreshed"
        assert await list_videos(http, emulator, first) == 200

    run(emulator, store, body)
    assert seen() == 1
    stored = vault(tmp_path).load(ACCOUNT, "youtube")  # a fresh reader: what is on disk
    assert stored.refresh_token is not None
    assert stored.refresh_token != ROTATING
    assert stored.refresh_token.startswith(f"sandbox:{ACCOUNT}:rotate:")
    old = emulator.http.post(
        "/youtube/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": ROTATING,
            "client_id": "c",
            "client_secret": "s",
        },
    )
    assert old.status_code == 400, "the emulator rotates: the first refresh token is spent"


def test_the_rotated_refresh_token_is_on_disk_before_the_access_token_is_handed_out(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        await tokens.token(ACCOUNT)
        on_disk = vault(tmp_path).load(ACCOUNT, "youtube")
        assert on_disk.refresh_token != ROTATING
        assert on_disk.access_token == await tokens.token(ACCOUNT)

    run(emulator, store, body)


def test_concurrent_401s_refresh_once_and_both_requests_go_through(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        await tokens.token(ACCOUNT)
        emulator.control("expire_tokens", {"platform": "youtube"})
        seen = count_token_requests(emulator)
        url = f"{emulator.url}/youtube/youtube/v3/videos"

        def get(auth: dict[str, str]) -> Awaitable[httpx.Response]:
            return http.get(url, params={"part": "status", "id": "x"}, headers=auth)

        answers = await asyncio.gather(
            tokens.send(ACCOUNT, "videos.list", get), tokens.send(ACCOUNT, "videos.list", get)
        )
        assert [r.status_code for r in answers] == [200, 200]
        assert seen() == 1

    run(emulator, store, body)


class FailingOnce:
    """A credential store whose first save fails like a full disk (a fake at the seam)."""

    def __init__(self, inner: Vault) -> None:
        self.inner = inner
        self.failures = 1

    def load(self, account: str, platform: str) -> Credentials:
        return self.inner.load(account, platform)

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        self.inner.save(account, platform, creds)


def test_a_failed_vault_write_keeps_the_new_tokens_unused_and_stores_them_next_time(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = FailingOnce(vault(tmp_path))
    store.inner.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    seen = count_token_requests(emulator)

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        with pytest.raises(TransientError, match="could not be stored"):
            await tokens.token(ACCOUNT)
        assert vault(tmp_path).load(ACCOUNT, "youtube").refresh_token == ROTATING
        token = await tokens.token(ACCOUNT)  # stores the pending tokens; no second refresh
        assert vault(tmp_path).load(ACCOUNT, "youtube").access_token == token
        assert await list_videos(http, emulator, token) == 200

    run(emulator, store, body)
    assert seen() == 1, "refreshing again with the spent refresh token would end the login"
    assert vault(tmp_path).load(ACCOUNT, "youtube").refresh_token != ROTATING


def test_invalid_grant_is_reauth_required_and_no_secret_is_said(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    emulator.control("revoke", {"platform": "youtube", "account": ACCOUNT})

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        with capture_logs() as logs, pytest.raises(ReauthRequired) as caught:
            await tokens.token(ACCOUNT)
        exc = caught.value
        assert exc.code == "invalid_grant"
        assert exc.status == 400
        said = f"{exc} {exc.platform_message} {logs}"
        assert ROTATING not in said
        assert CLIENT_SECRET not in said
        assert "log in" in str(exc)

    run(emulator, store, body)


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ({"action": "status", "code": 503}, None),
        ({"action": "drop"}, "network"),
        ({"action": "status", "code": 403, "body": "<html>Access denied</html>"}, None),  # a WAF
        ({"action": "status", "code": 404, "body": ""}, None),  # not an OAuth answer at all
    ],
)
def test_server_errors_and_dropped_connections_are_transient(
    tmp_path: Path, emulator: Emulator, rule: dict[str, Any], code: str | None
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    emulator.fault("token", **rule)

    async def body(tokens: OAuth2Tokens, http: httpx.AsyncClient) -> None:
        with capture_logs() as logs, pytest.raises(TransientError) as caught:
            await tokens.token(ACCOUNT)
        assert not isinstance(caught.value, ReauthRequired)
        if code is not None:
            assert caught.value.code == code
        said = f"{caught.value} {logs}"
        assert ROTATING not in said
        assert CLIENT_SECRET not in said
        assert await tokens.token(ACCOUNT)  # the login survives: the next try refreshes

    run(emulator, store, body)
    assert emulator.fired()
    assert vault(tmp_path).load(ACCOUNT, "youtube").refresh_token != ROTATING


def test_client_credentials_as_http_basic_are_accepted_by_the_token_endpoint(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint(
                "youtube",
                f"{emulator.url}/youtube/token",
                "basic-client",
                CLIENT_SECRET,
                auth_method="client_secret_basic",
            )
            token = await OAuth2Tokens(http, endpoint, store, SystemClock()).token(ACCOUNT)
            assert await list_videos(http, emulator, token) == 200

    asyncio.run(main())


def test_a_platform_naming_its_client_id_otherwise_gets_that_form_field() -> None:
    # TikTok's token endpoint takes client_key instead of client_id.
    endpoint = TokenEndpoint(
        "tiktok", "https://open.example/v2/oauth/token/", "ck", "cs", client_id_param="client_key"
    )
    _, _, body = endpoint.client_auth().prepare(
        "POST", endpoint.url, {}, "grant_type=refresh_token&refresh_token=r"
    )
    assert body == "grant_type=refresh_token&refresh_token=r&client_key=ck&client_secret=cs"
    assert "cs" not in repr(endpoint)


def test_the_platforms_words_survive_scrubbing_when_a_secret_is_short(
    tmp_path: Path, emulator: Emulator
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    emulator.control("revoke", {"platform": "youtube", "account": ACCOUNT})

    async def main() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            endpoint = TokenEndpoint("youtube", f"{emulator.url}/youtube/token", "c", "s")
            with pytest.raises(ReauthRequired) as caught:
                await OAuth2Tokens(http, endpoint, store, SystemClock()).token(ACCOUNT)
            assert caught.value.platform_message == "Token has been expired or revoked."

    asyncio.run(main())
