"""`atroposd auth login x` checks the app keys of each account's own X user context.

Production, the consumer keys in .env, no X_CLIENT_ID, X_AUTH at its default (oauth2) and the
account set to ``"auth": "oauth1"``: the OAuth 1.0a login starts (the real CLI, X's paths on
the emulator over loopback through X_API_BASE); an account left on X_AUTH without its keys is
refused by name, before anything is asked of X.
"""

from __future__ import annotations

import socket

import httpx
from cryptography.fernet import Fernet

from atroposd.vault import Vault
from tests.integration.auth_support import Login, auth
from tests.support import Emulator, Workspace


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _production(ws: Workspace, emulator: Emulator, auth_mode: str | None) -> None:
    ws.use_platforms("x", x={"auth": auth_mode})
    ws.env.update(
        {
            "ENVIRONMENT": "production",
            "TOKEN_FERNET_KEY": Fernet.generate_key().decode(),
            "X_CONSUMER_KEY": "sandbox-consumer-key",
            "X_CONSUMER_SECRET": "sandbox-consumer-secret",
            "X_API_BASE": f"{emulator.url}/x",
        }
    )


def test_an_oauth1_account_logs_in_without_the_oauth2_client_keys(
    ws: Workspace, emulator: Emulator
) -> None:
    _production(ws, emulator, "oauth1")
    login = Login(ws, "x", "default", "--no-browser", "--port", str(_free_port()))
    try:
        url = login.url()  # the request token was granted: X's authorize page, OAuth 1.0a
        assert "/oauth/authorize" in url, login.text
        approved = httpx.get(url, timeout=10)  # X approves and redirects to the callback
        login.paste(approved.headers["location"])
        assert login.finish() == 0, login.text
    finally:
        if login.proc.poll() is None:
            login.proc.terminate()
            login.finish()
    key = ws.env["TOKEN_FERNET_KEY"]
    creds = Vault(ws.root / "tokens", key, sandbox=False).load("default", "x")
    assert creds.access_token and creds.extra.get("token_secret")
    assert "X_CLIENT_ID" not in login.text


def test_an_account_on_x_auth_without_its_keys_is_refused_by_name(
    ws: Workspace, emulator: Emulator
) -> None:
    _production(ws, emulator, None)
    done = auth(ws, "login", "x", "--no-browser", "--port", str(_free_port()))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "X_CLIENT_ID, X_CLIENT_SECRET" in done.stderr, done.stderr
    assert "account 'default'" in done.stderr and "X_AUTH=oauth2" in done.stderr, done.stderr
    assert "Log in to" not in done.stdout
