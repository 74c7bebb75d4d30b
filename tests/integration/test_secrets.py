"""No secret from .env or the token vault appears in any log line or error message."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet

from tests.support import Daemon, Emulator, Workspace, iter_files

SECRETS = {
    "YOUTUBE_CLIENT_ID": "yt-client-id-0d7c6a1b",
    "YOUTUBE_CLIENT_SECRET": "yt-client-secret-93f1e2aa",
    "META_CLIENT_SECRET": "meta-secret-5521bd",
    "TIKTOK_CLIENT_SECRET": "tiktok-secret-77aa10",
    "X_CONSUMER_SECRET": "x-consumer-secret-c0ffee",
}


def test_no_secret_in_any_log_line(ws: Workspace, emulator: Emulator) -> None:
    key = Fernet.generate_key().decode()
    env = {"TOKEN_FERNET_KEY": key, **SECRETS}
    (ws.root / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    emulator.faults(
        {"platform": "youtube", "step": "chunk", "nth": 1, "action": "status", "code": 401},
        {"platform": "youtube", "step": "create", "nth": 2, "action": "status", "code": 503},
    )
    daemon = Daemon(ws, extra_env={"LOG_LEVEL": "debug"})
    try:
        daemon.wait_event("daemon_started")
        ws.drop("one", seed=41)
        daemon.wait_event("OK")
        ws.drop("two", seed=42)
        daemon.wait_event("OK", count=2)
        emulator.control("revoke", {"platform": "youtube", "account": "default"})
        emulator.control("expire_tokens", {"platform": "youtube"})
        ws.drop("three", seed=43)
        daemon.wait_event("ERR", code="invalid_grant")
    finally:
        daemon.stop()
    vault_files = [p for p in iter_files(ws.root / "tokens") if p.name.endswith(".json.enc")]
    assert vault_files, "the vault holds the account's tokens"
    tokens: list[str] = []
    for path in vault_files:
        blob = path.read_bytes()
        assert b"sandbox:" not in blob and b"access_token" not in blob  # encrypted at rest
        data = json.loads(Fernet(key.encode()).decrypt(blob))
        tokens += [data["access_token"], data["refresh_token"]]
    assert all(tokens)
    issued = emulator.http.get("/_emulator/tokens").json()
    assert len(issued) >= 2  # the first login and the refresh forced by the 401
    tokens += [t["access_token"] for t in issued]
    output = "".join(daemon.raw) + "".join(daemon.stderr)
    assert '"ERR"' in output and '"OK"' in output
    for secret in [key, *SECRETS.values(), *tokens]:
        assert secret not in output, "a secret leaked into the logs"
