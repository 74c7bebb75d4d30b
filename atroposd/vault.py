"""Fernet-encrypted tokens under ``tokens/<account>/<platform>.json.enc``.

Reads and writes block (file I/O, fsync): callers on the event loop go through
``asyncio.to_thread`` (``providers/auth`` does).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

from atroposd.errors import ConfigError, ReauthRequired
from atroposd.providers.base import Credentials

log = structlog.get_logger("atroposd")


def sandbox_key(state_dir: Path) -> str:
    """A Fernet key kept in the state dir for sandbox runs (created 0600 on first use)."""
    path = state_dir / "sandbox.fernet.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode())
    return path.read_text().strip()


class Vault:
    """Reads and writes one account's credentials per platform, encrypted at rest."""

    def __init__(self, tokens_dir: Path, key: str, sandbox: bool) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                "TOKEN_FERNET_KEY: not a valid Fernet key (32 url-safe base64-encoded bytes; "
                'make one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None
        self._dir = tokens_dir
        self._sandbox = sandbox
        self._sandbox_lock = threading.Lock()

    def _path(self, account: str, platform: str) -> Path:
        return self._dir / account / f"{platform}.json.enc"

    def load(self, account: str, platform: str) -> Credentials:
        """The stored credentials; sandbox accounts get generated ones on first use."""
        if self._sandbox:
            with self._sandbox_lock:  # readers at once: one makes them, the others read them
                return self._sandbox_load(account, platform)
        path = self._path(account, platform)
        if not path.exists():
            raise ReauthRequired(
                f"no {platform} login stored for account {account!r} (expected {path})",
                platform=platform,
            )
        try:
            return self._read(path)
        except (InvalidToken, ValueError):
            raise ReauthRequired(
                f"{path}: cannot decrypt with TOKEN_FERNET_KEY (wrong key or damaged file); "
                "the file is left untouched",
                platform=platform,
            ) from None

    def _read(self, path: Path) -> Credentials:
        raw = json.loads(self._fernet.decrypt(path.read_bytes()))
        expires = raw.get("expires_at")
        return Credentials(
            access_token=raw.get("access_token", ""),
            refresh_token=raw.get("refresh_token"),
            expires_at=datetime.fromisoformat(expires) if expires else None,
            extra=raw.get("extra", {}),
        )

    def _fresh(self, account: str, platform: str) -> Credentials:
        """New sandbox credentials (the emulator takes ``sandbox:<account>:…``), saved."""
        creds = Credentials(
            access_token="", refresh_token=f"sandbox:{account}:{secrets.token_hex(8)}"
        )
        self.save(account, platform, creds)
        return creds

    def _sandbox_load(self, account: str, platform: str) -> Credentials:
        """Sandbox has no real login: missing credentials are made; a file the key cannot
        read (made with the sandbox key of another STATE_DIR) is moved aside, never deleted
        (it may be a production login in a shared TOKENS_DIR), and new ones take its place."""
        path = self._path(account, platform)
        try:
            return self._read(path)
        except FileNotFoundError:
            return self._fresh(account, platform)
        except (InvalidToken, ValueError):
            pass
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        aside = path.with_name(f"{path.name}.undecryptable-{stamp}")
        os.replace(path, aside)
        log.warning(
            "sandbox_tokens_regenerated",
            account=account,
            platform=platform,
            reason="cannot decrypt with this sandbox key (made with another STATE_DIR's?)",
            kept_as=str(aside),
        )
        return self._fresh(account, platform)

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        """Encrypt and write atomically (unique temp name, fsync, rename, fsync dir), 0600."""
        path = self._path(account, platform)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {
            "access_token": creds.access_token,
            "refresh_token": creds.refresh_token,
            "expires_at": creds.expires_at.isoformat() if creds.expires_at else None,
            "extra": dict(creds.extra),
        }
        data = self._fernet.encrypt(json.dumps(payload).encode())
        # A unique temp name per write (mkstemp creates it 0600): two writers never share one.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)  # the rename itself survives a power cut


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
