"""The suite's leak check (tests/leaks.py) catches a leak, says where and never shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.leaks import find, from_env
from tests.support import REPO

INNER = """
import os
from pathlib import Path
from types import SimpleNamespace

from cryptography.fernet import Fernet

from tests import leaks
from tests.support import Emulator

OUT = Path(os.environ["LEAK_OUT"])


def test_prints_an_issued_token(tmp_path):
    emu = Emulator(tmp_path / "emu")
    try:
        form = {"grant_type": "refresh_token", "refresh_token": "sandbox:a:first",
                "client_id": "cid", "client_secret": "csecret"}
        token = emu.http.post("/youtube/token", data=form).json()["access_token"]
        (OUT / "token").write_text(token)
        print("the new token is", token)
    finally:
        emu.close()


def test_a_process_logs_its_key():
    key = Fernet.generate_key().decode()
    (OUT / "key").write_text(key)
    leaks.RUNS.append(SimpleNamespace(env={"TOKEN_FERNET_KEY": key}, raw=[key], stderr=[]))


def _issue(emu):
    form = {"grant_type": "refresh_token", "refresh_token": "sandbox:a:first",
            "client_id": "cid", "client_secret": "csecret"}
    return emu.http.post("/youtube/token", data=form).json()["access_token"]


def test_reads_its_own_capture(tmp_path, capsys):
    emu = Emulator(tmp_path / "emu")
    try:
        print("the new token is", _issue(emu))
        assert "token" in capsys.readouterr().out  # consumed: not in the report sections
    finally:
        emu.close()


def test_writes_a_log_file(tmp_path):
    emu = Emulator(tmp_path / "emu")
    try:
        (tmp_path / "daemon.log").write_text("refreshed: " + _issue(emu))
    finally:
        emu.close()


def test_clean(tmp_path):
    emu = Emulator(tmp_path / "emu")
    emu.close()
    print("nothing secret here")
"""


def test_find_names_where_and_what_never_the_value() -> None:
    secrets = from_env(
        {"TOKEN_FERNET_KEY": "k" * 44 + ",old-key-value-123", "X_CLIENT_ID": "id"}, "e"
    )
    assert set(secrets.values()) == {"TOKEN_FERNET_KEY (e)"}  # client ids are public
    hits = find(secrets, [("out", "x old-key-value-123 y"), ("err", "clean")])
    assert hits == ["out: TOKEN_FERNET_KEY (e)"]


def test_the_fixture_fails_a_test_that_leaks_and_passes_one_that_does_not(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "LEAK_OUT": str(tmp_path)}
    args = ["-p", "tests.leaks", "-p", "no:cacheprovider", "-n", "0", "--show-capture=no"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-W", "error", str(tmp_path / "test_inner.py")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "5 passed, 4 errors" in out  # the leaks fail the teardowns, out
    assert "capsys.readouterr() out: a token the emulator issued" in out, out
    assert "file daemon.log: a token the emulator issued" in out, out
    assert "captured stdout (call): a token the emulator issued" in out, out
    assert "process 1 stdout: TOKEN_FERNET_KEY (environment of process 1)" in out, out
    for name in ("token", "key"):
        assert (tmp_path / name).read_text() not in out, f"the report shows the {name}"
