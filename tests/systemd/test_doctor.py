"""`atroposd doctor` as a user runs it: a fresh sandbox set-up is all green; a broken one (no
ffmpeg on PATH, a token file made with another key, an archive folder it cannot write, too few
inotify watches) names each problem with its fix and exits 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from atroposd.providers.base import Credentials
from atroposd.vault import Vault
from tests.mounts import private_mounts
from tests.support import Workspace


def doctor(
    ws: Workspace, *args: str, env: dict[str, str] | None = None, wrap: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
    full.update({**ws.env, **(env or {})})
    cmd = [*wrap, sys.executable, "-m", "atroposd", "--env-file", str(ws.root / ".env"), "doctor"]
    return subprocess.run(
        [*cmd, *args], cwd=ws.root, env=full, capture_output=True, text=True, timeout=120
    )


def by_check(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in json.loads(done.stdout)}


def test_a_fresh_sandbox_set_up_is_all_green(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home", "http://127.0.0.1:9")
    done = doctor(ws)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("all good")
    checks = by_check(doctor(ws, "--json"))
    assert {c["status"] for c in checks.values()} == {"OK"}, checks
    for name in ("config", "ffmpeg", "ffprobe", "token key", "login default/youtube"):
        assert name in checks
    assert "ffmpeg version" in checks["ffmpeg"]["detail"]
    assert not (ws.state / "sandbox.fernet.key").exists()  # doctor changed nothing


def test_a_broken_set_up_names_each_problem_and_its_fix(tmp_path: Path) -> None:
    if not private_mounts():
        pytest.skip("needs an unprivileged mount namespace for a read-only archive folder")
    ws = Workspace(tmp_path / "home", "http://127.0.0.1:9")
    made_with = Fernet.generate_key().decode()
    Vault(ws.root / "tokens", made_with, sandbox=False).save(
        "default", "youtube", Credentials(access_token="a", refresh_token="r")
    )
    for i in range(300):
        (ws.queue / "default" / f"project{i}").mkdir(parents=True)
    limits = tmp_path / "inotify"
    limits.mkdir()
    (limits / "max_user_watches").write_text("100\n")
    ws.posted.mkdir()
    no_tools = tmp_path / "bin"  # a PATH without ffmpeg or ffprobe
    no_tools.mkdir()
    script = f'mount -t tmpfs -o ro atroposd-test "$0" || exit 32\nPATH={no_tools}\nexec "$@"'
    wrap = ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(ws.posted))
    env = {"TOKEN_FERNET_KEY": Fernet.generate_key().decode(), "ATROPOSD_INOTIFY_PROC": str(limits)}
    done = doctor(ws, "--json", env=env, wrap=wrap)
    assert done.returncode == 1, done.stderr
    checks = by_check(done)
    failed = {name for name, c in checks.items() if c["status"] == "FAIL"}
    assert failed == {
        "ffmpeg",
        "ffprobe",
        "token key",
        "login default/youtube",
        "folder ARCHIVE_DIR",
        "inotify watches",
    }, checks
    assert "not found on PATH" in checks["ffmpeg"]["detail"]
    assert "install ffmpeg" in checks["ffprobe"]["fix"]
    key = checks["token key"]
    assert "youtube.json.enc" in key["detail"] and "the key these were made with" in key["fix"]
    assert made_with not in done.stdout and env["TOKEN_FERNET_KEY"] not in done.stdout
    archive = checks["folder ARCHIVE_DIR"]
    assert "not writable" in archive["detail"] and "ARCHIVE_DIR" in archive["fix"]
    watches = checks["inotify watches"]
    assert "302 folder(s) watched, max_user_watches 100" in watches["detail"]
    assert "fs.inotify.max_user_watches=" in watches["fix"]
    text = doctor(ws, env=env, wrap=wrap)  # the table says the same, each fix under its line
    assert text.returncode == 1 and "fix: install ffmpeg" in text.stdout
    assert text.stdout.strip().endswith("6 problems to fix")
    assert shutil.which("ffmpeg")  # it was the PATH, not the machine
