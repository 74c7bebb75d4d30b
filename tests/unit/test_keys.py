"""The token keys (atroposd/keys.py) and the vault's key handling: real files in a tmp dir."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from atroposd import keys
from atroposd.config import Settings, load_settings
from atroposd.errors import ConfigError, StartupError
from atroposd.providers.base import Credentials
from atroposd.vault import Undecryptable, Vault, note, notes

REFRESH = "refresh-token-value-that-must-stay-secret"


def settings(tmp_path: Path, **env: str) -> Settings:
    base = {
        "ENVIRONMENT": "production",
        "STATE_DIR": str(tmp_path / "state"),
        "TOKENS_DIR": str(tmp_path / "tokens"),
    }
    return load_settings(None, {**base, **env})


def test_several_keys_first_encrypts_every_one_decrypts(tmp_path: Path) -> None:
    old, new = keys.new_key(), keys.new_key()
    Vault(tmp_path / "tokens", old, sandbox=False).save("a", "youtube", Credentials("x", REFRESH))
    both = keys.load_keys(settings(tmp_path, TOKEN_FERNET_KEY=f" {new} ,\n{old},"))
    assert both == [new, old]
    vault = Vault(tmp_path / "tokens", both, sandbox=False)
    assert vault.load("a", "youtube").refresh_token == REFRESH  # old key still decrypts
    vault.save("a", "tiktok", Credentials("y", REFRESH))
    blob = (tmp_path / "tokens" / "a" / "tiktok.json.enc").read_bytes()
    Fernet(new.encode()).decrypt(blob)  # the first key encrypted it


def test_the_key_comes_from_the_credentials_directory_under_systemd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    key = keys.new_key()
    (creds / "token_fernet_key").write_text(key + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert keys.load_keys(settings(tmp_path)) == [key]
    other = keys.new_key()  # TOKEN_FERNET_KEY set as well: it wins (the more explicit)
    assert keys.load_keys(settings(tmp_path, TOKEN_FERNET_KEY=other)) == [other]


def test_missing_or_bad_keys_are_config_errors_that_never_show_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOKEN_FERNET_KEY: required in production"):
        keys.load_keys(settings(tmp_path))
    good = keys.new_key()
    bad = "too-short-to-be-a-fernet-key"
    with pytest.raises(ConfigError, match="key 2 of 2 is not a valid Fernet key") as err:
        keys.load_keys(settings(tmp_path, TOKEN_FERNET_KEY=f"{good},{bad}"))
    assert good not in str(err.value) and bad not in str(err.value)


def test_sandbox_without_a_key_uses_the_state_dirs_own(tmp_path: Path) -> None:
    got = keys.load_keys(settings(tmp_path, ENVIRONMENT="sandbox"))
    assert got == [(tmp_path / "state" / "sandbox.fernet.key").read_text().strip()]


def test_rotate_key_reencrypts_with_the_first_key_and_reports_undecryptable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, stranger = keys.new_key(), keys.new_key(), keys.new_key()
    Vault(tmp_path / "tokens", old, False).save("a", "youtube", Credentials("x", REFRESH))
    Vault(tmp_path / "tokens", new, False).save("b", "youtube", Credentials("y", REFRESH))
    Vault(tmp_path / "tokens", stranger, False).save("c", "x", Credentials("z", REFRESH))
    lost = tmp_path / "tokens" / "c" / "x.json.enc"
    before = lost.read_bytes()
    stale = tmp_path / "tokens" / "a" / ".youtube.json.enc.abc.tmp"  # a killed writer's
    stale.write_bytes(b"half")
    code = keys.rotate_key(settings(tmp_path, TOKEN_FERNET_KEY=f"{new},{old}"))
    out, err = capsys.readouterr()
    assert code == 2
    assert "1 re-encrypted, 1 already on the first key, 1 failed" in out
    assert err.splitlines() == [
        f"atroposd: {lost}: cannot decrypt with TOKEN_FERNET_KEY (wrong key or damaged file); "
        "the file is left untouched"
    ]
    assert lost.read_bytes() == before, "a file no key opens is never overwritten"
    assert not stale.exists()
    only_new = Vault(tmp_path / "tokens", new, False)
    assert only_new.load("a", "youtube").refresh_token == REFRESH
    assert stat.S_IMODE((tmp_path / "tokens" / "a" / "youtube.json.enc").stat().st_mode) == 0o600
    for secret in (old, new, stranger, REFRESH):
        assert secret not in out + err


def test_a_wrong_key_at_start_names_the_file(tmp_path: Path) -> None:
    Vault(tmp_path / "tokens", keys.new_key(), False).save("a", "youtube", Credentials("x", "y"))
    s = settings(tmp_path, TOKEN_FERNET_KEY=keys.new_key())
    vault = keys.open_vault(s)
    with pytest.raises(Undecryptable) as err:
        vault.load("a", "youtube")
    assert err.value.path == tmp_path / "tokens" / "a" / "youtube.json.enc"
    with pytest.raises(StartupError, match=r"tokens/a/youtube\.json\.enc: cannot decrypt"):
        keys.check_logins(s, vault, [("a", "youtube"), ("b", "youtube")])
    keys.check_logins(s, vault, [("b", "youtube")])  # not logged in: not a start-up error


def test_notes_are_plain_private_and_hold_no_token(tmp_path: Path) -> None:
    when = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
    note(tmp_path / "tokens", "a", "youtube", last_refresh=when, scopes=["youtube.upload"])
    note(tmp_path / "tokens", "a", "youtube", last_error="boom")
    note(tmp_path / "tokens", "a", "youtube", last_error=None)
    path = tmp_path / "tokens" / "a" / "youtube.notes.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    got = notes(tmp_path / "tokens", "a", "youtube")
    assert got == {"last_refresh": when.isoformat(), "scopes": ["youtube.upload"]}
    assert json.loads(path.read_text()) == got
    assert notes(tmp_path / "tokens", "a", "tiktok") == {}


def test_a_file_another_key_wrote_is_never_overwritten(tmp_path: Path) -> None:
    Vault(tmp_path / "tokens", keys.new_key(), False).save("a", "x", Credentials("t", "r"))
    path = tmp_path / "tokens" / "a" / "x.json.enc"
    before = path.read_bytes()
    with pytest.raises(Undecryptable, match=r"x\.json\.enc: cannot decrypt"):
        Vault(tmp_path / "tokens", keys.new_key(), False).save("a", "x", Credentials("u", "s"))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["x.json.enc"]


def test_remove_deletes_the_login_and_its_notes_only(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "tokens", keys.new_key(), False)
    vault.save("a", "x", Credentials("t", "r"))
    vault.save("a", "youtube", Credentials("t", "r"))
    vault.note("a", "x", scopes=["tweet.write"])
    assert vault.remove("a", "x") is True
    assert sorted(p.name for p in (tmp_path / "tokens" / "a").iterdir()) == ["youtube.json.enc"]
    assert vault.remove("a", "x") is False and vault.remove("b", "x") is False


def test_a_lax_account_folder_is_made_private_on_write(tmp_path: Path) -> None:
    folder = tmp_path / "tokens" / "a"
    folder.mkdir(parents=True, mode=0o755)
    folder.chmod(0o755)
    Vault(tmp_path / "tokens", keys.new_key(), False).save("a", "x", Credentials("t", "r"))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_child_processes_get_no_key_and_no_secret() -> None:
    env = {
        "PATH": "/usr/bin",
        "HOME": "/home/u",
        "TOKEN_FERNET_KEY": "k",
        "YOUTUBE_CLIENT_SECRET": "s",
        "TIKTOK_CLIENT_KEY": "ck",
        "X_CONSUMER_KEY": "xk",
        "API_TOKEN": "t",
        "CREDENTIALS_DIRECTORY": "/run/credentials/atroposd.service",
        "LANG": "C.UTF-8",
    }
    assert keys.child_env(env) == {"PATH": "/usr/bin", "HOME": "/home/u", "LANG": "C.UTF-8"}
