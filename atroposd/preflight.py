"""Start-up checks: a folder or a server that cannot work becomes one plain line (exit 2).

Without them a folder problem surfaced as a traceback and exit code 1, which the systemd
unit's ``Restart=on-failure`` turned into a restart every 10 s forever.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from atroposd.diskfull import is_disk_full
from atroposd.errors import StartupError
from atroposd.store.db import connect

HEALTH = "/_emulator/health"


def _why(exc: OSError) -> str:
    """A short reason, plus a hint for the causes people actually meet."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return f"{reason} (disk full)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{reason} (check its owner and mode, or whether it is mounted read-only)"
    return reason


def folder(name: str, path: Path, *, write: bool, private: bool = False) -> None:
    """Make sure ``path`` is (or can be made) a folder we can list, and write when asked.

    ``name`` is the setting it comes from; the error names both and says what is wrong. A
    ``private`` folder (the ledger's, the tokens') is made 0700 whatever the umask, so the
    umask can stay the user's own for the clips and folders made elsewhere.
    """
    where = f"{name} {path.absolute()}"
    if path.is_symlink() and not path.exists():
        raise StartupError(
            f"{where}: a link to {os.readlink(path)}, which is missing (not mounted?)"
        )
    if path.exists() and not path.is_dir():
        raise StartupError(f"{where}: exists but is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
    except OSError as exc:
        raise StartupError(f"{where}: cannot create it: {_why(exc)}") from None
    try:
        os.listdir(path)
    except OSError as exc:
        raise StartupError(f"{where}: cannot read it: {_why(exc)}") from None
    if write:
        _probe(where, path)


def _probe(where: str, path: Path) -> None:
    """Write one byte in ``path``; a full disk is an OSError (exit 1: it may clear)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".atroposd-probe-", dir=path)
    except OSError as exc:
        raise StartupError(f"{where}: not writable: {_why(exc)}") from None
    try:
        os.write(fd, b"\n")
    except OSError as exc:
        if is_disk_full(exc):
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
        raise StartupError(f"{where}: not writable: {_why(exc)}") from None
    finally:
        os.close(fd)
        os.unlink(probe)


def open_ledger(state_dir: Path) -> sqlite3.Connection:
    """The ledger's connection; a file that is not a usable ledger is a ``StartupError``.

    A full disk is not: it may clear by itself, so it is left to end the run with exit 1.
    """
    path = state_dir / "ledger.sqlite3"
    try:
        return connect(path)
    except sqlite3.DatabaseError as exc:
        if is_disk_full(exc):
            raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
        raise StartupError(
            f"STATE_DIR {state_dir.absolute()}: cannot open the ledger {path.name}: {exc} "
            "(restore it from a backup, or move it away to start an empty one)"
        ) from None


def listening(url: str) -> bool:
    """True when something accepts TCP connections at ``url``'s host and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


async def is_emulator(url: str) -> None:
    """Raise ``StartupError`` unless the server at ``url`` is the atroposd emulator."""
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            answer = await client.get(url + HEALTH)
        healthy = answer.status_code == 200 and answer.json() == {"ok": True}
        seen = f"HTTP {answer.status_code} on {HEALTH}"
    except (httpx.HTTPError, ValueError) as exc:
        healthy, seen = False, f"{type(exc).__name__} on {HEALTH}"
    if not healthy:
        raise StartupError(
            f"SANDBOX_URL {url}: something that is not the atroposd emulator answers there "
            f"({seen}); stop it, or set SANDBOX_URL to a free port (the daemon then serves "
            "the emulator itself)"
        )
