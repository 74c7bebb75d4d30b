"""`atroposd auth rotate-key` and a wrong key, as real processes on real token files.

The interruption is real: the test holds one account folder's lock (the vault's ``flock``, the
same one the daemon's writes take), so the process is stopped at a known point, then SIGKILLed;
the next run finishes the job. Nothing of atroposd is mocked.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from atroposd.keys import new_key
from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.support import Daemon, Workspace, wait_for

ACCOUNTS = ("a1", "a2", "a3", "b1", "b2", "b3")  # rotate-key goes through them in this order
PLATFORMS = ("tiktok", "youtube")


def _workspace(tmp_path: Path, key: str) -> Workspace:
    ws = Workspace(tmp_path / "home", "http://127.0.0.1:9")  # production: no emulator
    ws.env.update({"ENVIRONMENT": "production", "TOKEN_FERNET_KEY": key})
    ws.out.mkdir(parents=True, exist_ok=True)
    return ws


def _opens(path: Path, *keys: str) -> bool:
    try:
        MultiFernet([Fernet(k.encode()) for k in keys]).decrypt(path.read_bytes())
    except InvalidToken:
        return False
    return True


def _files(ws: Workspace) -> dict[str, Path]:
    tokens = ws.root / "tokens"
    return {f"{a}/{p}": tokens / a / f"{p}.json.enc" for a in ACCOUNTS for p in PLATFORMS}


def _cli(ws: Workspace, *args: str, key: str | None = None) -> tuple[int, str, str]:
    run = Daemon(ws, args, extra_env={"TOKEN_FERNET_KEY": key} if key else None)
    code = run.wait(60)
    return code, "".join(run.raw), "".join(run.stderr)


def test_rotate_key_survives_a_kill_midway_and_finishes_when_run_again(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    ws = _workspace(tmp_path, f"{new},{old}")
    secrets: list[str] = []
    vault = Vault(ws.root / "tokens", old, sandbox=False)
    for account in ACCOUNTS:
        for platform in PLATFORMS:
            creds = Credentials(f"access-{account}-{platform}-7f3a", f"refresh-{account}-9c1d")
            vault.save(account, platform, creds)
            secrets += [creds.access_token, str(creds.refresh_token)]
    files = _files(ws)
    for path in files.values():
        assert not any(s.encode() in path.read_bytes() for s in secrets), "plaintext token"
    held = os.open(ws.root / "tokens" / "b1", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)  # rotate-key will wait here, after the a* folders
    run = Daemon(ws, ("auth", "rotate-key"))
    try:
        first = [files[f"{a}/{p}"] for a in ("a1", "a2", "a3") for p in PLATFORMS]
        wait_for(lambda: all(_opens(p, new) for p in first), 60, "the a* files re-encrypted")
    finally:
        run.kill9()  # blocked on b1's lock: a real interruption midway
        os.close(held)
    rest = [path for name, path in files.items() if not name.startswith("a")]
    assert not any(_opens(p, new) for p in rest), "b* files were not reached"
    assert all(_opens(p, new, old) for p in files.values()), "no file damaged by the kill"
    code, out, err = _cli(ws, "auth", "rotate-key")
    assert code == 0, err
    assert "6 re-encrypted, 6 already on the first key, 0 failed" in out
    assert all(_opens(p, new) for p in files.values())
    for path in files.values():
        assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
    code, out, err = _cli(ws, "auth", "rotate-key", key=new)  # the old key dropped
    assert (code, err) == (0, "")
    assert "0 re-encrypted, 12 already on the first key" in out
    for secret in [old, new, *secrets]:
        assert secret not in out + err


def test_a_wrong_key_is_one_line_naming_the_file_and_exit_2(tmp_path: Path) -> None:
    right, wrong = new_key(), new_key()
    ws = _workspace(tmp_path, wrong)
    ws.env.update({"YOUTUBE_CLIENT_ID": "cid-0d1e", "YOUTUBE_CLIENT_SECRET": "csecret-0d1e"})
    Vault(ws.root / "tokens", right, sandbox=False).save(
        "default", "youtube", Credentials("access-5b7e", "refresh-5b7e")
    )
    path = ws.root / "tokens" / "default" / "youtube.json.enc"
    before = path.read_bytes()
    login = ("auth", "login", "youtube", "--no-browser")  # refused before the browser step
    for args in (("run",), ("auth", "rotate-key"), ("auth", "status"), login):
        code, out, err = _cli(ws, *args)
        lines = err.strip().splitlines()
        assert code == 2, (args, out, err)
        assert len(lines) == 1 and str(path) in lines[0], (args, err)
        assert "cannot decrypt" in lines[0] and "Traceback" not in out + err, (args, err)
        for secret in (right, wrong, "access-5b7e", "refresh-5b7e", "csecret-0d1e"):
            assert secret not in out + err
    assert path.read_bytes() == before, "a file the key cannot open is never overwritten"
