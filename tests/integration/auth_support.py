"""``atroposd auth`` as a real child process, and a test "browser" that follows its URL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from atroposd.providers.base import Credentials
from atroposd.vault import Vault, sandbox_key
from tests import leaks
from tests.support import Emulator, Workspace, wait_for


def _env(ws: Workspace) -> dict[str, str]:
    drop = ("ATROPOS", "SANDBOX", "DISPLAY", "WAYLAND_DISPLAY")  # no desktop: no browser opened
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(ws.env)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _command(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "atroposd", "--env-file", str(ws.root / ".env"), "auth", *args]


class Login:
    """``atroposd auth login <platform>`` running; its output collected line by line."""

    def __init__(self, ws: Workspace, platform: str, account: str = "default", *extra: str) -> None:
        args = _command(ws, "login", platform, "--account", account, "--timeout", "60", *extra)
        self.env = _env(ws)
        self.proc = subprocess.Popen(
            args,
            cwd=ws.root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.raw, self.stderr = self.out, self.err
        leaks.RUNS.append(self)  # its output is searched for secrets after the test

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def text(self) -> str:
        """Everything it printed, stdout then stderr."""
        return "".join(self.out) + "".join(self.err)

    def url(self) -> str:
        """The authorize URL it printed (the line that is only a URL)."""

        def printed() -> str | None:
            return next((ln.strip() for ln in self.out if ln.startswith("http")), None)

        found: str = wait_for(printed, 30, f"the authorize URL; so far: {self.text}")
        return found

    def browse(self) -> httpx.Response:
        """What a browser does: open the URL, follow the redirects to the callback."""
        return httpx.get(self.url(), follow_redirects=True, timeout=10)

    def paste(self, text: str) -> None:
        """Type ``text`` and Enter at its prompt."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    reap_after_test = True  # tests/leaks.py stops it after the test if it still runs

    def reap(self) -> None:
        """Stop it if a failed test left it running, and close its pipes (no stray process,
        no ResourceWarning in whichever later test the garbage collector runs in)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def finish(self, timeout: float = 60) -> int:
        """Its exit code, once it ended."""
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code


@dataclass
class _Done:
    env: dict[str, str]
    raw: list[str]
    stderr: list[str]


def auth(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    """``atroposd auth <args>``, run to the end (its output joins the suite's leak check)."""
    env = _env(ws)
    done = subprocess.run(
        _command(ws, *args), cwd=ws.root, env=env, capture_output=True, text=True, timeout=60
    )
    leaks.RUNS.append(_Done(env, [done.stdout], [done.stderr]))
    return done


def stored(ws: Workspace, account: str, platform: str) -> Credentials:
    """The credentials in the vault (decrypted with the sandbox key, nothing made up)."""
    key = sandbox_key(ws.state)
    return Vault(ws.root / "tokens", key, sandbox=False).load(account, platform)


def issued(emulator: Emulator) -> list[str]:
    """Every token value the emulator handed out (token endpoints and Page tokens)."""
    rows = emulator.http.get("/_emulator/oauth/issued").raise_for_status().json()
    return [str(r["value"]) for r in rows]


def status(ws: Workspace) -> list[dict[str, Any]]:
    """``auth status --json`` rows."""
    done = auth(ws, "status", "--json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def token_files(ws: Workspace) -> list[Path]:
    """Every file under TOKENS_DIR."""
    return sorted(p for p in (ws.root / "tokens").rglob("*") if p.is_file())
