"""Meta's long-lived token exchange (grant fb_exchange_token) through OAuth2Tokens.

No Meta emulator exists yet (the Instagram/Facebook issues bring them), so Graph API's token
endpoint is stood in for at the transport seam (``httpx.MockTransport``); the vault is real.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from atroposd.errors import RateLimited, ReauthRequired, TransientError
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.unit.support import FakeClock

URL = "https://graph.facebook.com/v26.0/oauth/access_token"
OLD = "EAAold-long-lived-user-token"
SECRET = "meta-app-secret-value"


def exchange(answer: tuple[int, dict[str, Any]], seen: list[httpx.Request]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answer[0], json=answer[1])

    return httpx.MockTransport(handler)


def run(tmp_path: Path, answer: tuple[int, dict[str, Any]]) -> tuple[list[httpx.Request], Any]:
    clock = FakeClock()
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    vault.save("acct", "facebook", Credentials(OLD, expires_at=clock.now() + timedelta(days=3)))
    seen: list[httpx.Request] = []
    endpoint = TokenEndpoint(
        "facebook", URL, "meta-app-id", SECRET, leeway=timedelta(days=7), grant="fb_exchange_token"
    )

    async def main() -> Any:
        async with httpx.AsyncClient(transport=exchange(answer, seen)) as http:
            tokens = OAuth2Tokens(http, endpoint, vault, clock)
            try:
                return await tokens.token("acct"), vault.load("acct", "facebook"), clock
            except Exception as exc:  # returned for the assertions
                return exc

    return seen, asyncio.run(main())


def test_a_token_near_its_60_days_is_exchanged_and_stored(tmp_path: Path) -> None:
    seen, got = run(tmp_path, (200, {"access_token": "EAAnew", "expires_in": 5183944}))
    token, stored, clock = got
    assert token == "EAAnew"
    assert stored.access_token == "EAAnew"
    assert stored.expires_at == clock.now() + timedelta(seconds=5183944)
    assert len(seen) == 1
    query = dict(httpx.QueryParams(seen[0].content.decode()))
    assert seen[0].method == "POST" and not seen[0].url.query  # no secret in a logged URL
    assert query == {
        "grant_type": "fb_exchange_token",
        "client_id": "meta-app-id",
        "client_secret": SECRET,
        "fb_exchange_token": OLD,
    }


def test_an_expired_or_revoked_token_asks_for_a_login_without_saying_it(tmp_path: Path) -> None:
    body = {
        "error": {
            "message": f"Error validating access token: Session has expired ({OLD})",
            "type": "OAuthException",
            "code": 190,
            "error_subcode": 463,
        }
    }
    _, exc = run(tmp_path, (400, body))
    assert isinstance(exc, ReauthRequired)
    assert exc.code == "OAuthException 190"
    assert OLD not in str(exc)
    assert OLD not in str(exc.platform_message)
    assert SECRET not in str(exc)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ({"message": "Please retry", "type": "OAuthException", "code": 2}, TransientError),
        (
            {"message": "x", "type": "OAuthException", "code": 190, "is_transient": True},
            TransientError,
        ),
        ({"message": "Application request limit reached", "code": 4}, RateLimited),
    ],
)
def test_metas_transient_and_throttled_answers_are_retried(
    tmp_path: Path, error: dict[str, Any], kind: type[Exception]
) -> None:
    _, exc = run(tmp_path, (400, {"error": error}))
    assert type(exc) is kind
