"""The API's bearer token: where it comes from, how it is checked, where the server may bind.

The token is ``API_TOKEN`` when set, else ``STATE_DIR/api-token``, made at first start (32
random bytes, URL-safe, written 0600 under a private name then hard-linked into place, so it is
never readable by others even for a moment, nor seen half-written). Comparison is
``hmac.compare_digest``. A bind address that is not loopback is refused unless ``API_TOKEN``
is set: a token generated on this machine is not something a remote client was meant to be
given, and a daemon reachable from the network must not be one ``cat`` away from anyone with
a shell on it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import unquote

from atroposd.errors import ConfigError

TOKEN_FILE = "api-token"
# ``token=``, with any of its letters percent-encoded too (a query decoder reads them as one)
_QUERY_TOKEN = re.compile(
    r"([?&](?:t|%74)(?:o|%6f)(?:k|%6b)(?:e|%65)(?:n|%6e)=)[^&\s\"']*", re.IGNORECASE
)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback address literals (127.0.0.0/8, ::1)."""
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, token_set: bool) -> None:
    """``ConfigError`` for a non-loopback bind without ``API_TOKEN``."""
    if not is_loopback(host) and not token_set:
        raise ConfigError(
            f".env: API_HOST {host}: not a loopback address, and API_TOKEN is not set. "
            "A network-reachable API needs a token you chose and gave its clients: set "
            "API_TOKEN (a long random string), or keep API_HOST=127.0.0.1"
        )


def load_token(state_dir: Path, configured: str | None) -> str:
    """``API_TOKEN``, else the token in ``STATE_DIR/api-token`` (made 0600 at first start)."""
    if configured:
        return configured
    path = state_dir / TOKEN_FILE
    if path.exists() or path.is_symlink():
        return _read_token(path)
    # Written whole under a private name, then linked into place: whoever else starts at the
    # same moment (the daemon and a standalone server) reads the file complete or not at all.
    token = secrets.token_urlsafe(32)
    tmp = state_dir / f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # fails if another starter's file is there already
        except FileExistsError:
            return _read_token(path)
        except OSError:  # a file system without hard links: create it in place, 0600
            return _create_in_place(path, token)
    finally:
        tmp.unlink(missing_ok=True)
    return token


def _create_in_place(path: Path, token: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_token(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return token


def _read_token(path: Path) -> str:
    """The saved token; a file others can read is tightened to 0600 first."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, encoding="ascii") as handle:
        if os.fstat(handle.fileno()).st_mode & 0o077:
            os.fchmod(handle.fileno(), 0o600)
        token = handle.read().strip()
    if len(token) < 16:
        raise ConfigError(
            f"{path}: the API token in it is empty or too short; delete the file to make a new one"
        )
    return token


def same(given: str | None, token: str) -> bool:
    """Constant-time comparison of a presented token with the real one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def query_token(raw: bytes) -> str | None:
    """The value of the literal ``token`` key of a raw query string (a key spelled with
    percent-escapes does not count: it would be one the log scrubbing could miss)."""
    for part in raw.decode("latin-1").split("&"):
        key, sep, value = part.partition("=")
        if key == "token" and sep:
            return unquote(value)
    return None


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def scrub_query(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter removed."""
    return _QUERY_TOKEN.sub(r"\1[redacted]", text)


class QueryTokenFilter(logging.Filter):
    """Removes ``?token=`` values from uvicorn's log records (it logs websocket paths whole)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(scrub_query(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: scrub_query(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        if isinstance(record.msg, str):
            record.msg = scrub_query(record.msg)
        return True


def quiet_uvicorn_tokens() -> None:
    """Install ``QueryTokenFilter`` on uvicorn's loggers (idempotent)."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QueryTokenFilter) for f in logger.filters):
            logger.addFilter(QueryTokenFilter())
