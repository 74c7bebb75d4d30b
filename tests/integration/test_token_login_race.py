"""A refresh in flight while `atroposd auth login` stores a new login (docs/auth.md).

The daemon's refresh of grant A is on the wire; the user's `auth login` stores grant B; the
answer A' arrives. A' must not be saved over B (B would be lost silently and the account
would keep posting as the old login): the vault saves only over the grant that was
refreshed, under the account folder's lock; the daemon drops A' (a warning with no token in
it) and uses B from then on. X rotates refresh tokens: dropping A' leaves the login on file,
B's, which is what the user asked for. Real parts: the emulator over loopback, the vault on
disk (the daemon's `RedactingStore` over it, and a second `Vault` as the CLI opens it); the
login lands between the token answer's arrival and its storage through an httpx response
hook, so nothing depends on timing.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs

from atroposd.app import RedactingStore
from atroposd.keys import new_key
from atroposd.log import Redactor
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.support import Emulator
from tests.unit.support import FakeClock


def test_a_login_stored_while_a_refresh_is_in_flight_is_kept_and_used(
    tmp_path: Path, emulator: Emulator
) -> None:
    clock = FakeClock(datetime.now(UTC))
    tokens, key = tmp_path / "tokens", new_key()
    daemon_vault = RedactingStore(Vault(tokens, key, sandbox=False), Redactor())
    cli_vault = Vault(tokens, key, sandbox=False)  # `atroposd auth login`'s own
    cli_vault.save("a", "x", Credentials("", "sandbox:a:first-login"))
    login_b = Credentials(
        "login-b-access", "sandbox:a:second-login", expires_at=clock.now() + timedelta(hours=2)
    )
    logged_in: list[bool] = []

    async def login_meanwhile(resp: httpx.Response) -> None:
        if resp.request.url.path.endswith("/oauth2/token") and not logged_in:
            cli_vault.save("a", "x", login_b)  # the answer A' is here, not yet stored
            logged_in.append(True)

    async def main() -> tuple[str, str]:
        hooks: dict[str, Any] = {"response": [login_meanwhile]}
        async with httpx.AsyncClient(timeout=10.0, event_hooks=hooks) as http:
            url = f"{emulator.url}/x/2/oauth2/token"
            endpoint = TokenEndpoint("x", url, "cid", "csecret", "client_secret_basic")
            keeper = OAuth2Tokens(http, endpoint, daemon_vault, clock)
            first = await keeper.token("a")  # refreshes A; B is stored meanwhile
            return first, await keeper.token("a")

    with capture_logs() as logs:
        first, later = asyncio.run(main())
    assert logged_in
    on_file = cli_vault.load("a", "x")
    assert (on_file.access_token, on_file.refresh_token) == (
        "login-b-access",
        "sandbox:a:second-login",
    ), "the refresh of the old login was saved over the new login"
    assert first == later == "login-b-access"
    dropped = [ln for ln in logs if ln["event"] == "token_refresh_dropped"]
    assert [(ln["account"], ln["platform"], ln["log_level"]) for ln in dropped] == [
        ("a", "x", "warning")
    ], logs
    issued = emulator.http.get("/_emulator/oauth/issued").raise_for_status().json()
    secrets = {row["value"] for row in issued} | {"login-b-access", "second-login", "first-login"}
    assert len(secrets) > 3, issued  # the rotated answer A' is among them
    text = repr(logs)
    assert not [s for s in secrets if s in text]
