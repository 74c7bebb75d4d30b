"""Fernet-encrypted tokens under ``tokens/<account>/<platform>.json.enc``.

Several keys may be given (MultiFernet): the first encrypts, every one decrypts. Each write
and each re-encryption (``rotate_file``) holds the account folder's lock (``flock``), so
``atroposd auth rotate-key`` never undoes a refresh the daemon stores at the same moment.
Non-secret facts about a login (expiries, scopes, last refresh, last error) sit beside the
token file in plain JSON (``<platform>.notes.json``, 0600) for ``auth status`` and ``doctor``.

Reads and writes block (file I/O, fsync): callers on the event loop go through
``asyncio.to_thread`` (``providers/auth`` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from atroposd.errors import ConfigError, ReauthRequired
from atroposd.providers.base import Credentials

log = structlog.get_logger("atroposd")
SUFFIX = ".json.enc"
NOTES = ".notes.json"


class Undecryptable(ReauthRequired):
    """A token file none of the keys opens (wrong key or damaged file); it is left untouched."""

    def __init__(self, path: Path, platform: str) -> None:
        super().__init__(
            f"{path}: cannot decrypt with TOKEN_FERNET_KEY (wrong key or damaged file); "
            "the file is left untouched",
            platform=platform,
            code="undecryptable",
        )
        self.path = path


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

    def __init__(
        self,
        tokens_dir: Path,
        key: str | Sequence[str],
        sandbox: bool,
        reread: Callable[[], Sequence[str]] | None = None,
    ) -> None:
        """``reread`` gives the keys as configured now (the daemon: .env read again): a file
        no running key opens (``auth rotate-key`` ran with a new first key while the daemon
        kept the old ones) is tried again with them, and they are kept."""
        keys = key.split(",") if isinstance(key, str) else list(key)
        self._reread = reread
        try:
            self._set_keys(keys)
        except (ValueError, TypeError):
            raise ConfigError(
                "TOKEN_FERNET_KEY: not a valid Fernet key (32 url-safe base64-encoded bytes; "
                'make one with: python -c "from cryptography.fernet import Fernet; '
                'print(Fernet.generate_key().decode())")'
            ) from None
        self._dir = tokens_dir
        self._sandbox = sandbox
        self._sandbox_lock = threading.Lock()

    def _set_keys(self, keys: Sequence[str]) -> None:
        self._keys = [k.strip() for k in keys]
        self._fernets = [Fernet(k.encode()) for k in self._keys]
        self._fernet = MultiFernet(self._fernets)

    def _adopt(self) -> bool:
        """Take the keys as configured now, if they differ from the running ones."""
        if self._reread is None:
            return False
        try:
            keys = [k.strip() for k in self._reread()]
            if keys == self._keys:
                return False
            self._set_keys(keys)
        except (ConfigError, OSError, ValueError, TypeError):
            return False  # the running keys stay
        log.info("token_keys_reread", keys=len(keys))
        return True

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
            if not self._adopt():
                raise Undecryptable(path, platform) from None
        try:
            return self._read(path)
        except (InvalidToken, ValueError):
            raise Undecryptable(path, platform) from None

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
        for _ in range(2):  # once more with the keys as configured now, if they changed
            try:
                return self._read(path)
            except FileNotFoundError:
                return self._fresh(account, platform)
            except (InvalidToken, ValueError):
                if not self._adopt():
                    break
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
        """Encrypt with the first key and write atomically under the folder's lock, 0600."""
        path = self._path(account, platform)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = _payload(creds)
        _private(path.parent)
        with _locked(path.parent):
            self._write_locked(path, platform, payload)

    def _write_locked(self, path: Path, platform: str, payload: dict[str, Any]) -> None:
        try:  # on a key rotate-key added meanwhile: the keys are read again (``_adopt``)
            self._openable(path, platform)
        except Undecryptable:
            if not self._sandbox:
                raise  # never overwrite what another key may open
        _write(path, self._fernet.encrypt(json.dumps(payload).encode()))

    def save_if(
        self, account: str, platform: str, creds: Credentials, expected: Credentials
    ) -> Credentials | None:
        """Save ``creds`` (a refresh of ``expected``) only if the file still holds
        ``expected``, all under the folder's lock; None when saved. Otherwise the file is left
        as it is and what it holds is returned (``auth login`` stored a new login meanwhile);
        ``ReauthRequired`` when it is gone (``auth logout``)."""
        path = self._path(account, platform)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _private(path.parent)
        with _locked(path.parent):
            if not path.exists():
                raise ReauthRequired(
                    f"no {platform} login stored for account {account!r} (expected {path})",
                    platform=platform,
                )
            try:
                held = self._read(path)
            except (InvalidToken, ValueError):
                held = None  # _write_locked re-reads the keys, or refuses (production)
            if held is not None and not same_grant(held, expected):
                return held
            self._write_locked(path, platform, _payload(creds))
        return None

    def check_save(self, account: str, platform: str) -> None:
        """What ``save`` would refuse, found before a login's browser step: a stored file no
        key opens (``Undecryptable``, production), a folder that cannot be written (OSError)."""
        path = self._path(account, platform)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with _locked(path.parent):
            if not self._sandbox:
                self._openable(path, platform)
            fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)

    def _openable(self, path: Path, platform: str) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        try:
            self._fernet.decrypt(data)
        except InvalidToken:
            if not self._adopt():
                raise Undecryptable(path, platform) from None
            try:
                self._fernet.decrypt(data)
            except InvalidToken:
                raise Undecryptable(path, platform) from None

    def remove(self, account: str, platform: str) -> bool:
        """Delete one login (its token file and its notes) under the folder's lock; False when
        there was none (``atroposd auth logout``)."""
        path = self._path(account, platform)
        if not path.parent.is_dir():
            return False
        gone = False
        with _locked(path.parent):
            for doomed in (path, path.with_name(f"{platform}{NOTES}")):
                with contextlib.suppress(FileNotFoundError):
                    doomed.unlink()
                    gone = gone or doomed == path
            _fsync_dir(path.parent)
        return gone

    def token_files(self) -> Iterator[Path]:
        """Every token file under TOKENS_DIR (``<account>/<platform>.json.enc``), sorted."""
        if not self._dir.is_dir():
            return iter(())
        return iter(sorted(p for p in self._dir.glob(f"*/*{SUFFIX}") if p.is_file()))

    def sweep(self, folder: Path) -> int:
        """Delete temp files a killed writer left in an account folder; how many. Under the
        folder's lock every writer is done, so any temp file there is stale."""
        gone = 0
        with _locked(folder):
            for stale in folder.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
                    gone += 1
        return gone

    def rotate_file(self, path: Path) -> bool:
        """Re-encrypt one token file with the first key; False when it already was.

        Raises ``Undecryptable`` (the file untouched) when no key opens it.
        """
        with _locked(path.parent):
            data = path.read_bytes()
            try:
                self._fernets[0].decrypt(data)
                return False  # already on the first key: nothing to write
            except InvalidToken:
                pass
            try:
                fresh = self._fernet.rotate(data)
            except InvalidToken:
                raise Undecryptable(path, path.name.removesuffix(SUFFIX)) from None
            _write(path, fresh)
            return True

    def note(self, account: str, platform: str, **facts: Any) -> None:
        """Record non-secret facts about a login (see ``note``)."""
        note(self._dir, account, platform, **facts)

    def notes(self, account: str, platform: str) -> dict[str, Any]:
        """The facts noted for one login ({} when none)."""
        return notes(self._dir, account, platform)


def note(tokens_dir: Path, account: str, platform: str, **facts: Any) -> None:
    """Record non-secret facts (``last_refresh``, ``last_error``, ``scopes``, expiries) in the
    plain sibling file ``<platform>.notes.json`` (0600); datetimes are stored as ISO 8601,
    None removes a fact. Never a token: these are for ``auth status`` and ``doctor``."""
    path = tokens_dir / account / f"{platform}{NOTES}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(path.parent):
        merged = notes(tokens_dir, account, platform)
        for name, value in facts.items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value.isoformat() if isinstance(value, datetime) else value
        _write(path, json.dumps(merged, sort_keys=True, indent=1).encode())


def notes(tokens_dir: Path, account: str, platform: str) -> dict[str, Any]:
    """The facts noted for one login ({} when none, or when the file is damaged)."""
    path = tokens_dir / account / f"{platform}{NOTES}"
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # a damaged notes file holds nothing that cannot be noted again
    return found if isinstance(found, dict) else {}


def same_grant(held: Credentials, expected: Credentials) -> bool:
    """Whether ``held`` is still the grant ``expected`` came from: the same refresh token, or
    the same access token when there is none (no secret is shown either way)."""
    if expected.refresh_token:
        return held.refresh_token == expected.refresh_token
    return held.access_token == expected.access_token


def _payload(creds: Credentials) -> dict[str, Any]:
    return {
        "access_token": creds.access_token,
        "refresh_token": creds.refresh_token,
        "expires_at": creds.expires_at.isoformat() if creds.expires_at else None,
        "extra": dict(creds.extra),
    }


def _private(folder: Path) -> None:
    """An account folder open to others (made by hand, or under a lax umask) is made 0700."""
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """The folder's exclusive ``flock``: writers of one account (the daemon, ``auth login``,
    ``auth rotate-key``) take turns; it goes with the process, however it ends."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(path: Path, data: bytes) -> None:
    """Atomically: a unique temp file (mkstemp: 0600), fsync, rename, fsync the folder."""
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
