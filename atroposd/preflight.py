"""Start-up checks: a folder or a server that cannot work becomes one plain line (exit 2).

Without them a folder problem surfaced as a traceback and exit code 1, which the systemd
unit's ``Restart=on-failure`` turned into a restart every 10 s forever.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from atroposd.errors import StartupError

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
        try:
            fd, probe = tempfile.mkstemp(prefix=".atroposd-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise StartupError(f"{where}: not writable: {_why(exc)}") from None


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
