"""Sandbox tokens that the sandbox key cannot read are made again, never "log in again".

Found by a user trial: sandbox keeps its generated Fernet key in STATE_DIR, so a new STATE_DIR
with the old tokens/ folder made every post wait in ``needs attention: log in again``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from atroposd.errors import ReauthRequired
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.support import Daemon, Emulator, Workspace, wait_for

LOGIN = "a-production-refresh-token"


def _outcome(run: Daemon, clip: str) -> dict[str, Any]:
    """The first OK or ERR line about ``clip``."""

    def said() -> dict[str, Any] | None:
        lines = run.events("OK", clip=clip) + run.events("ERR", clip=clip)
        return lines[0] if lines else None

    got: dict[str, Any] = wait_for(said, 60, f"OK or ERR for {clip}")
    return got


def test_a_new_state_dir_with_the_old_tokens_still_posts_in_sandbox(
    ws: Workspace, emulator: Emulator
) -> None:
    first = Daemon(ws)
    try:
        first.wait_event("daemon_started")
        ws.drop("before", seed=41)
        assert _outcome(first, "before.mp4")["event"] == "OK"
    finally:
        assert first.stop() == 0
    vault = ws.root / "tokens"
    kept = {p.relative_to(vault) for p in vault.rglob("*.json.enc")}
    assert kept, "the first run saved sandbox tokens"
    moved = {"STATE_DIR": str(ws.root / "new-state")}  # a new sandbox key is made there
    second = Daemon(ws, extra_env=moved)
    try:
        second.wait_event("daemon_started")
        ws.drop("after", seed=42)
        said = _outcome(second, "after.mp4")
        assert said["event"] == "OK", said
        made = second.events("sandbox_tokens_regenerated")
        assert len(made) == len(kept), made
        assert all("cannot decrypt" in line["reason"] for line in made), made
    finally:
        assert second.stop() == 0
    assert len(emulator.posts()) == 2
    aside = [p for p in vault.rglob("*") if p.is_file() and ".undecryptable-" in p.name]
    assert len(aside) == len(kept)  # the old files are kept beside the new ones, not lost


def _saved_with_another_key(tokens: Path) -> Path:
    Vault(tokens, Fernet.generate_key().decode(), sandbox=False).save(
        "acct", "youtube", Credentials("access", LOGIN)
    )
    return tokens / "acct" / "youtube.json.enc"


def test_in_production_a_file_the_key_cannot_read_is_still_a_clear_error(tmp_path: Path) -> None:
    path = _saved_with_another_key(tmp_path / "tokens")
    before = path.read_bytes()
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    with pytest.raises(ReauthRequired, match="cannot decrypt with TOKEN_FERNET_KEY"):
        vault.load("acct", "youtube")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["youtube.json.enc"]


def test_sandbox_readers_at_once_make_new_tokens_once_and_keep_the_old_file(
    tmp_path: Path,
) -> None:
    path = _saved_with_another_key(tmp_path / "tokens")
    before = path.read_bytes()
    key = Fernet.generate_key().decode()
    vault = Vault(tmp_path / "tokens", key, sandbox=True)
    start = threading.Barrier(4)
    got: list[str | None] = []

    def reader() -> None:
        start.wait()
        got.append(vault.load("acct", "youtube").refresh_token)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and len(set(got)) == 1, got
    assert got[0] is not None and got[0].startswith("sandbox:acct:")
    assert (
        Vault(tmp_path / "tokens", key, sandbox=True).load("acct", "youtube").refresh_token
        == (got[0])
    )
    (aside,) = [p for p in path.parent.iterdir() if p.name != "youtube.json.enc"]
    assert aside.name.startswith("youtube.json.enc.undecryptable-")
    assert aside.read_bytes() == before  # a production login in a shared TOKENS_DIR survives
