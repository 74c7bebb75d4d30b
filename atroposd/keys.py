"""The token key(s): where they come from, the vault they open, re-encrypting with a new one.

``TOKEN_FERNET_KEY`` may hold several comma-separated Fernet keys: the first encrypts, all
decrypt (``cryptography``'s MultiFernet), so a key is replaced in three steps: put the new key
first, run ``atroposd auth rotate-key``, drop the old key. Under systemd the key can come from
``$CREDENTIALS_DIRECTORY/token_fernet_key`` (``LoadCredential=``) instead of the environment;
in sandbox a key kept in the state dir is used when none is set (``vault.sandbox_key``).
See docs/adr (key handling) and docs/auth.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cryptography.fernet import Fernet

from atroposd.errors import ConfigError, ReauthRequired, StartupError
from atroposd.vault import Undecryptable, Vault, sandbox_key

CREDENTIAL_NAME = "token_fernet_key"
# Never handed to a child process (ffmpeg, the notification command): the key, and every
# variable whose name says it holds a secret.
SECRET_MARKERS = ("SECRET", "TOKEN", "PASSWORD", "FERNET", "CREDENTIALS_DIRECTORY", "_KEY")


class KeySettings(Protocol):
    """What the key functions read from ``config.Settings``."""

    @property
    def sandbox(self) -> bool: ...

    @property
    def state_dir(self) -> Path: ...

    @property
    def tokens_dir(self) -> Path: ...

    def secret(self, name: str) -> str | None: ...


def new_key() -> str:
    """A new random Fernet key (``atroposd auth keygen``)."""
    return Fernet.generate_key().decode()


def _from_credentials_dir() -> tuple[str, str] | None:
    folder = os.environ.get("CREDENTIALS_DIRECTORY")
    if not folder:
        return None
    path = Path(folder) / CREDENTIAL_NAME
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the token key: {exc.strerror}") from None


def load_keys(settings: KeySettings) -> list[str]:
    """The Fernet keys, first one encrypting; ConfigError (never showing a key) if unusable.

    Order of sources: ``TOKEN_FERNET_KEY`` (environment or .env), then
    ``$CREDENTIALS_DIRECTORY/token_fernet_key``, then in sandbox the state dir's own key.
    """
    raw, source = settings.secret("TOKEN_FERNET_KEY"), "TOKEN_FERNET_KEY"
    if not raw:
        found = _from_credentials_dir()
        if found is not None:
            raw, source = found
    if not raw or not raw.strip(" ,\n"):
        if settings.sandbox:
            return [sandbox_key(settings.state_dir)]
        raise ConfigError(
            ".env: TOKEN_FERNET_KEY: required in production (tokens are encrypted at rest); "
            "make one with: atroposd auth keygen"
        )
    keys = [k.strip() for k in raw.replace("\n", ",").split(",") if k.strip()]
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ConfigError(
                f"{source}: key {n} of {len(keys)} is not a valid Fernet key (32 url-safe "
                "base64-encoded bytes; make one with: atroposd auth keygen)"
            ) from None
    return keys


def open_vault(settings: KeySettings) -> Vault:
    """The vault of ``TOKENS_DIR`` with every configured key."""
    return Vault(settings.tokens_dir, load_keys(settings), settings.sandbox)


def check_logins(settings: KeySettings, vault: Vault, pairs: Iterable[tuple[str, str]]) -> None:
    """In production, every stored login of ``pairs`` opens with the keys, else StartupError
    naming the file (a wrong TOKEN_FERNET_KEY: exit 2 before anything is posted). In sandbox
    the vault moves such a file aside and makes new sandbox logins instead."""
    if settings.sandbox:
        return
    for account, platform in sorted(set(pairs)):
        try:
            vault.load(account, platform)
        except Undecryptable as exc:
            raise StartupError(str(exc)) from None
        except ReauthRequired:
            continue  # not logged in: the first post says so


def rotate_key(settings: KeySettings) -> int:
    """Re-encrypt every token file with the first key; the exit code (0 ok, 2 a file failed).

    File by file, each atomically (temp file, fsync, rename) under the file's lock, so it is
    safe to interrupt and to run again, and safe beside a running daemon. A file no key opens
    is never overwritten: its path is reported and the others go on.
    """
    vault = open_vault(settings)
    failed = rotated = kept = 0
    swept: set[Path] = set()
    for path in vault.token_files():
        try:
            if path.parent not in swept:
                swept.add(path.parent)
                vault.sweep(path.parent)  # what a killed run (or daemon) left half-written
            changed = vault.rotate_file(path)
        except Undecryptable as exc:
            print(f"atroposd: {exc}", file=sys.stderr)
            failed += 1
            continue
        except OSError as exc:
            print(f"atroposd: {path}: cannot re-encrypt: {exc.strerror or exc}", file=sys.stderr)
            failed += 1
            continue
        rotated += changed
        kept += not changed
    print(f"rotate-key: {rotated} re-encrypted, {kept} already on the first key, {failed} failed")
    return 2 if failed else 0


def child_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process (ffmpeg, a notification command): this process's,
    without the token key and without any variable whose name marks it as a secret."""
    env = dict(os.environ if environ is None else environ)
    return {k: v for k, v in env.items() if not any(m in k.upper() for m in SECRET_MARKERS)}
