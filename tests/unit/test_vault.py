"""The token vault: encrypted at rest, atomic writes, real files in a tmp dir."""

from __future__ import annotations

import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from atroposd.errors import ReauthRequired
from atroposd.providers.base import Credentials
from atroposd.vault import Undecryptable, Vault

REFRESH = "refresh-token-value-that-must-stay-secret"


def test_saved_tokens_read_back_encrypted_and_private(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    when = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    vault.save("acct", "x", Credentials("access-1", REFRESH, when, {"token_secret": "ts-1"}))
    got = vault.load("acct", "x")
    assert (got.access_token, got.refresh_token, got.expires_at) == ("access-1", REFRESH, when)
    assert dict(got.extra) == {"token_secret": "ts-1"}
    path = tmp_path / "tokens" / "acct" / "x.json.enc"
    assert REFRESH.encode() not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json.enc"]


def test_a_failed_write_leaves_no_temp_file_and_the_old_tokens_intact(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    vault = Vault(tmp_path / "tokens", key, sandbox=False)
    folder = tmp_path / "tokens" / "acct"
    vault.save("acct", "youtube", Credentials("old", REFRESH))
    # The rename cannot replace a directory: the write fails after the temp file was written.
    (folder / "tiktok.json.enc").mkdir()
    with pytest.raises(OSError):
        vault.save("acct", "tiktok", Credentials("new", "new-refresh"))
    assert sorted(p.name for p in folder.iterdir()) == ["tiktok.json.enc", "youtube.json.enc"]
    assert Vault(tmp_path / "tokens", key, sandbox=False).load("acct", "youtube").access_token == (
        "old"
    )


def test_concurrent_writers_of_one_entry_never_break_each_other(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        start.wait()
        try:
            for i in range(40):
                vault.save("acct", "youtube", Credentials(f"a{n}-{i}", f"r{n}-{i}"))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert vault.load("acct", "youtube").access_token.endswith("-39")
    assert [p.name for p in (tmp_path / "tokens" / "acct").iterdir()] == ["youtube.json.enc"]


def test_a_missing_login_in_production_asks_for_one(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    with pytest.raises(ReauthRequired, match="no x login stored"):
        vault.load("acct", "x")


@pytest.mark.parametrize("sandbox", [False, True])
def test_a_running_vault_takes_the_keys_rotate_key_added_and_loses_no_refresh(
    tmp_path: Path, sandbox: bool
) -> None:
    """The daemon started with the old key; the user puts a new key first in .env and runs
    rotate-key without restarting it. The daemon's next refresh is stored (re-read keys), on
    the new key, not refused (a rotated refresh token would be lost) nor left on the old key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    configured = [old]  # what .env says now
    daemon = Vault(tmp_path / "tokens", [old], sandbox, reread=lambda: list(configured))
    daemon.save("acct", "tiktok", Credentials("access-1", "refresh-1"))
    configured[:] = [new, old]
    assert Vault(tmp_path / "tokens", [new, old], sandbox=False).rotate_file(
        tmp_path / "tokens" / "acct" / "tiktok.json.enc"
    )
    daemon.save("acct", "tiktok", Credentials("access-2", "refresh-2"))  # the refresh, rotated
    configured[:] = [new]  # step 3: the old key dropped
    assert Vault(tmp_path / "tokens", [new], sandbox=False).load(
        "acct", "tiktok"
    ).refresh_token == ("refresh-2")
    assert daemon.load("acct", "tiktok").refresh_token == "refresh-2"
    if sandbox:
        return
    other = Fernet.generate_key().decode()
    stuck = Vault(tmp_path / "tokens", [other], False, reread=lambda: [other])
    with pytest.raises(Undecryptable):  # keys that still open nothing: refused, file kept
        stuck.save("acct", "tiktok", Credentials("access-3", "refresh-3"))
    assert daemon.load("acct", "tiktok").refresh_token == "refresh-2"
