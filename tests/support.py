"""Shared test parts: real ffmpeg clips, a real emulator on loopback, a real daemon process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from atroposd import demo
from atroposd.emulator import EmulatorServer
from tests import leaks

REPO = Path(__file__).resolve().parent.parent


def make_clip(path: Path, seconds: float = 1.0, seed: int = 0, bitrate: str = "300k") -> Path:
    """A small real MP4 whose size follows ``bitrate`` (see ``atroposd.demo.make_clip``)."""
    return demo.make_clip(path, seed, seconds, size="180x320", bitrate=bitrate)


def sha256(path: Path) -> str:
    """SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Emulator:
    """The real emulator served from a background thread's event loop."""

    def __init__(self, storage: Path) -> None:
        from tests.providers.twostep.emulator import TwoStep  # the tests' own platform

        self._loop = asyncio.new_event_loop()
        self._server = EmulatorServer(
            host="127.0.0.1", port=0, storage_dir=storage, extra_platforms=[TwoStep]
        )
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(10)
        self.url = self._server.base_url
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def close(self) -> None:
        leaks.harvest(self.http)  # every token it issued, for the suite's leak check
        self.http.close()
        asyncio.run_coroutine_threadsafe(self._server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def posts(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_emulator/posts").raise_for_status().json())

    def uploads(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_emulator/uploads").raise_for_status().json())

    def faults(self, *rules: dict[str, Any]) -> None:
        self.http.post("/_emulator/faults", json=list(rules)).raise_for_status()

    def fault(self, step: str, nth: int = 1, action: str = "status", **rule: Any) -> None:
        """One YouTube fault rule (see docs/emulator.md)."""
        self.faults({"platform": "youtube", "step": step, "nth": nth, "action": action, **rule})

    def wait_stored(self, nbytes: int, exact: bool = False, timeout: float = 60.0) -> None:
        """Wait until an upload session holds ``nbytes`` (at least, or exactly)."""

        def held() -> bool:
            got = [u["bytes_received"] for u in self.uploads()]
            return any(b == nbytes if exact else b >= nbytes for b in got)

        wait_for(held, timeout, f"{nbytes} bytes stored")

    def fired(self) -> bool:
        """True once every installed fault rule has fired (exhausted rules are dropped)."""
        return self.http.get("/_emulator/faults").json() == []

    def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.http.post(f"/_emulator/{path}", json=body or {}).raise_for_status()


class Workspace:
    """A folder laid out like a user's: upload_queue/, out/, config, state, tokens."""

    def __init__(self, root: Path, sandbox_url: str, api: bool = False) -> None:
        """``api``: serve the local API on a free loopback port (``api_url``); else it is off,
        so daemons of parallel tests never compete for API_PORT's default 8787."""
        self.root = root
        self.queue = root / "upload_queue"
        self.out = root / "out"
        self.posted = root / "posted"
        self.state = root / "state"
        self.queue.mkdir(parents=True)
        self.config_path = root / "upload_config.json"
        self.use_platforms("youtube")
        self.env = {
            "ENVIRONMENT": "sandbox",
            "SANDBOX_URL": sandbox_url,
            "UPLOAD_FOLDER": str(self.queue),
            "OUT_ROOT": str(self.out),
            "STATE_DIR": str(self.state),
            "TOKENS_DIR": str(root / "tokens"),
            "ARCHIVE_DIR": str(self.posted),
            "UPLOAD_CONFIG": str(root / "upload_config.json"),
            "SETTLE_SECONDS": "0.5",
            "RESCAN_SECONDS": "5",
            "RECONCILE_SECONDS": "5",
            "UPLOAD_CHUNK_BYTES": str(256 * 1024),
            "API_ENABLED": "true" if api else "false",
            "SHUTDOWN_GRACE_SECONDS": "2",  # a stop waits this long for uploads in flight
        }
        self.api_url = ""
        if api:
            port = free_port()
            self.env.update({"API_HOST": "127.0.0.1", "API_PORT": str(port)})
            self.api_url = f"http://127.0.0.1:{port}"
        root.mkdir(parents=True, exist_ok=True)
        (root / ".env").write_text(f"API_ENABLED={self.env['API_ENABLED']}\n", encoding="utf-8")

    def use_platforms(self, *names: str, **choices: dict[str, Any]) -> None:
        """Post the default account's clips to ``names`` only (the example config's choices for
        them, else just enabled; ``choices[name]`` adds to them). Tests start with YouTube alone.
        """
        config = json.loads((REPO / "atroposd" / "data" / "upload_config.example.json").read_text())
        example = config["accounts"]["default"]["platforms"]
        config["accounts"]["default"]["platforms"] = {
            name: {**example.get(name, {"enabled": True}), **choices.get(name, {})}
            for name in names
        }
        self.config_path.write_text(json.dumps(config))

    def drop(
        self,
        stem: str,
        seed: int,
        caption: str | None = None,
        seconds: float = 1.0,
        folder: Path | None = None,
        bitrate: str = "300k",
    ) -> Path:
        """Write a clip pair atomically into the queue (video first, caption last)."""
        where = folder or self.queue
        where.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "staging" / f"{stem}.mp4"
        make_clip(tmp, seconds, seed, bitrate)
        video = where / f"{stem}.mp4"
        os.replace(tmp, video)
        text = caption if caption is not None else f"Clip {stem}\n\n#shorts #test\n"
        (where / f"{stem}.txt").write_text(text, encoding="utf-8")
        return video


class Daemon:
    """``atroposd`` as a real child process; its JSON log lines are collected."""

    def __init__(
        self,
        ws: Workspace,
        args: tuple[str, ...] = ("run",),
        extra_env: dict[str, str] | None = None,
        wrap: tuple[str, ...] = (),
    ) -> None:
        """``wrap`` goes before the interpreter (e.g. ``unshare`` for a private mount)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
        env.update(ws.env)
        env.update(extra_env or {})
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env
        leaks.RUNS.append(self)  # its output is searched for secrets after the test
        self.proc = subprocess.Popen(
            [*wrap, sys.executable, "-m", "atroposd", "--env-file", str(ws.root / ".env"), *args],
            cwd=ws.root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            with contextlib.suppress(json.JSONDecodeError):
                self.lines.append(json.loads(line))

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def events(self, event: str, **match: Any) -> list[dict[str, Any]]:
        """Log lines with ``event`` whose fields equal ``match``."""
        return [
            ln
            for ln in self.lines
            if ln.get("event") == event and all(ln.get(k) == v for k, v in match.items())
        ]

    def wait_event(
        self, event: str, count: int = 1, timeout: float = 60.0, **match: Any
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` matching lines were logged."""
        return wait_for(
            lambda: len(self.events(event, **match)) >= count and self.events(event, **match),
            timeout,
            f"{count} x {event} {match}; stderr={''.join(self.stderr)[-2000:]}",
        )

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._join()
        return code

    def kill9(self) -> None:
        """SIGKILL: no clean-up at all."""
        self.proc.kill()
        self.proc.wait(10)
        self._join()

    def wait(self, timeout: float = 120.0) -> int:
        code = self.proc.wait(timeout)
        self._join()
        return code

    def _join(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def google_error(code: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    """Google's JSON error envelope, as the YouTube API answers."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"reason": reason, "domain": domain, "message": message}],
        }
    }


def iter_files(root: Path) -> Iterator[Path]:
    """Every regular file under ``root`` (but a running daemon's watched-folder lock)."""
    return (p for p in root.rglob("*") if p.is_file() and p.name != ".atroposd.lock")
