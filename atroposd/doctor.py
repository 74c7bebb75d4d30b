"""`atroposd doctor [--json]`: check a set-up before trusting it with a month of posts.

One line per check (``OK``, ``WARN`` or ``FAIL``), each problem with its fix; exit 0 when
nothing failed, 1 otherwise. Nothing is changed: folders are probed with a temp file that is
removed, token files are only decrypted, the ledger is opened read-only, no daemon lock taken.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from atroposd.config import Settings, UploadConfig, load_settings, load_upload_config
from atroposd.config import missing_platform_ids as _missing
from atroposd.errors import ConfigError
from atroposd.keys import load_keys
from atroposd.log import Redactor
from atroposd.vault import notes

COMMANDS: tuple[str, ...] = ("doctor",)
# Where the inotify limits are read (a test points it at a folder of its own).
INOTIFY_ENV = "ATROPOSD_INOTIFY_PROC"
MIN_FREE = 512 * 1024 * 1024  # below this: FAIL; below 4x this: WARN
UNIT = "atroposd.service"
CREDS = "CREDENTIALS_DIRECTORY"


@dataclass(frozen=True)
class Check:
    """One line of the table."""

    check: str
    status: str  # OK, WARN, FAIL
    detail: str
    fix: str = ""


def ok(check: str, detail: str) -> Check:
    return Check(check, "OK", detail)


def warn(check: str, detail: str, fix: str) -> Check:
    return Check(check, "WARN", detail, fix)


def fail(check: str, detail: str, fix: str) -> Check:
    return Check(check, "FAIL", detail, fix)


def add_parsers(sub: Any) -> None:
    """``doctor [--json]``."""
    cmd = sub.add_parser("doctor", help="check the set-up: each problem with its fix")
    cmd.add_argument("--json", action="store_true", help="one JSON object per check, in a list")


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run every check, print the table (or JSON); 0 when none failed, else 1."""
    checks = list(diagnose(args.env_file))
    if args.json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(table(checks))
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def table(checks: list[Check]) -> str:
    """The checks as aligned lines, each fix under its problem."""
    width = max(len(c.check) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<4}  {c.check:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {c.fix}")
    bad = sum(c.status == "FAIL" for c in checks)
    lines.append("all good" if not bad else f"{bad} problem{'s' * (bad > 1)} to fix")
    return "\n".join(lines)


def diagnose(env_file: Path | None) -> Iterator[Check]:
    """Every check, in the order of the table."""
    settings, config, found = _config(env_file)
    yield found
    yield from _folders(settings)
    yield from (_tool(name) for name in ("ffmpeg", "ffprobe"))
    keys = _keys(settings)
    yield keys[0]
    if config is not None:
        yield from _logins(settings, config, keys[1])
    yield _inotify(settings)
    yield from _disk(settings)
    yield _clock(settings)
    yield _api_port(settings)
    yield _unit()


def _config(env_file: Path | None) -> tuple[Settings, UploadConfig | None, Check]:
    try:
        settings = load_settings(env_file)
    except ConfigError as exc:
        fix = "correct the setting named (docs/configuration.md lists every one)"
        return Settings.model_validate({}), None, fail("config", _one_line(exc), fix)
    try:
        config = load_upload_config(settings.upload_config)
        missing = _missing(config, settings)
        if missing:
            raise ConfigError("\n".join(missing))
    except ConfigError as exc:
        fix = "correct it (atroposd config-schema prints the format)"
        return settings, None, fail("config", _one_line(exc), fix)
    where = "sandbox (the local emulator)" if settings.sandbox else "production"
    text = f"{env_file} and {settings.upload_config} valid; {where}; "
    return settings, config, ok("config", text + f"{len(config.accounts)} account(s)")


def _one_line(exc: Exception) -> str:
    return "; ".join(str(exc).splitlines())


def _folders(s: Settings) -> Iterator[Check]:
    for name, path, private in (
        ("UPLOAD_FOLDER", s.upload_folder, False),
        ("OUT_ROOT", s.out_root, False),
        ("ARCHIVE_DIR", s.archive_dir, False),
        ("STATE_DIR", s.state_dir, True),
        ("TOKENS_DIR", s.tokens_dir, True),
    ):
        yield _folder(name, path.absolute(), private)


def _folder(name: str, path: Path, private: bool) -> Check:
    check = f"folder {name}"
    fix = f"make {path} a folder this user can write (chown/chmod, or remount it read-write)"
    fix += f", or set {name} in .env to one"
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), Path("/"))
        why = _unwritable(parent)
        if why:
            return fail(check, f"{path} is missing and cannot be created in {parent}: {why}", fix)
        return ok(check, f"{path} (made at the first start)")
    if not path.is_dir():
        return fail(check, f"{path} exists but is not a folder", fix)
    why = _unwritable(path)
    if why:
        return fail(check, f"{path} is not writable: {why}", fix)
    if private and path.stat().st_mode & 0o077:
        return warn(check, f"{path} is open to other users", f"chmod 700 {path}")
    return ok(check, f"{path} writable")


def _unwritable(path: Path) -> str | None:
    """Why a temp file cannot be made in ``path`` (root bypasses modes; a probe does not)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".atroposd-doctor-", dir=path)
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(probe)
    return None


def _tool(name: str) -> Check:
    path = shutil.which(name)
    fix = f"install {name} (Debian/Ubuntu: sudo apt install ffmpeg) so that it is on PATH"
    if path is None:
        return fail(name, f"{name} not found on PATH", fix)
    try:
        out = subprocess.run(
            [path, "-version"], capture_output=True, text=True, timeout=20, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return fail(name, f"{path} does not run: {exc}", fix)
    first = out.splitlines()[0] if out else "?"
    return ok(name, f"{path}: {' '.join(first.split()[:3])}")


def _keys(s: Settings) -> tuple[Check, list[str]]:
    check = "token key"
    own = s.state_dir / "sandbox.fernet.key"
    given = s.secret("TOKEN_FERNET_KEY") or os.environ.get(CREDS)
    if s.sandbox and not given and not own.exists():  # load_keys would make it: no change here
        return ok(check, f"sandbox: {own} is made at the first start"), []
    try:
        keys = load_keys(s)
    except ConfigError as exc:
        fix = "set TOKEN_FERNET_KEY (or the token_fernet_key credential): atroposd auth keygen"
        return fail(check, _one_line(exc), fix), []
    box = MultiFernet([Fernet(k.encode()) for k in keys])
    files = sorted(s.tokens_dir.glob("*/*.json.enc")) if s.tokens_dir.is_dir() else []
    bad = []
    for path in files:
        try:
            box.decrypt(path.read_bytes())
        except (InvalidToken, OSError):
            bad.append(str(path))
    if bad:
        fix = (
            "use the key these were made with (TOKEN_FERNET_KEY, or the credential; add it "
            "after the new one to keep both), or log in again: atroposd auth login"
        )
        if s.sandbox:
            fix += "; in sandbox the daemon moves them aside and makes new ones"
        detail = f"{len(bad)} of {len(files)} token file(s) do not open with it: {', '.join(bad)}"
        return fail(check, detail, fix), keys
    return ok(check, f"{len(keys)} key(s); opens all {len(files)} token file(s)"), keys


def _logins(s: Settings, config: UploadConfig, keys: list[str]) -> Iterator[Check]:
    box = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
    for account, acc in sorted(config.accounts.items()):
        for platform in acc.platforms.enabled():
            yield _login(s, box, account, platform)


def _login(s: Settings, box: MultiFernet | None, account: str, platform: str) -> Check:
    check = f"login {account}/{platform}"
    path = s.tokens_dir / account / f"{platform}.json.enc"
    fix = f"atroposd auth login --account {account} --platform {platform}"
    if not path.exists():
        if s.sandbox:
            return ok(check, "sandbox: made on first use")
        return fail(check, f"no login stored ({path})", fix)
    if box is None:
        return fail(check, "no usable token key", "see the token key line")
    try:
        raw = json.loads(box.decrypt(path.read_bytes()))
    except (InvalidToken, OSError, ValueError):
        return fail(check, f"{path} does not open with the key", fix)
    facts = notes(s.tokens_dir, account, platform)
    expiries = {k: v for k, v in facts.items() if k.endswith("expires_at") and v}
    if raw.get("expires_at"):
        expiries.setdefault("access expires_at", raw["expires_at"])
    if not raw.get("refresh_token") and not raw.get("access_token"):
        return fail(check, "the stored login holds no token", fix)
    now = datetime.now(UTC)
    for name, when in sorted(expiries.items()):
        with contextlib.suppress(ValueError, TypeError):
            at = datetime.fromisoformat(str(when))
            if at.tzinfo is not None and at < now and not raw.get("refresh_token"):
                return fail(check, f"{name.replace('_', ' ')} {when}: expired", fix)
    said = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(expiries.items()))
    refresh = "refresh token stored" if raw.get("refresh_token") else "no refresh token"
    return ok(check, f"{refresh}{'; ' + said if said else ''}")


def _watched_dirs(s: Settings) -> int:
    count = 0
    for root in {s.upload_folder.absolute(), s.out_root.absolute()}:
        for _, dirs, _ in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            count += 1
    return count


def _inotify(s: Settings) -> Check:
    check = "inotify watches"
    proc = Path(os.environ.get(INOTIFY_ENV, "/proc/sys/fs/inotify"))
    try:
        limit = int((proc / "max_user_watches").read_text().strip())
    except (OSError, ValueError) as exc:
        return warn(check, f"cannot read {proc}/max_user_watches: {exc}", "check /proc is there")
    dirs = _watched_dirs(s)
    want = max(2 * dirs, 8192)
    detail = f"{dirs} folder(s) watched, max_user_watches {limit}"
    if limit < want:
        raise_to = max(524288, 4 * dirs)
        fix = (
            "one watch per folder, shared with your other programs: "
            f"echo fs.inotify.max_user_watches={raise_to} | sudo tee "
            "/etc/sysctl.d/60-atroposd.conf && sudo sysctl --system"
        )
        return fail(check, detail + f" (too few: want at least {want})", fix)
    return ok(check, detail)


def _disk(s: Settings) -> Iterator[Check]:
    for name, path in (
        ("clips (UPLOAD_FOLDER)", s.upload_folder),
        ("archive (ARCHIVE_DIR)", s.archive_dir),
        ("renders", s.render_cache_dir or s.state_dir / "renders"),
        ("ledger (STATE_DIR)", s.state_dir),
    ):
        yield _free(f"disk {name}", path.absolute())


def _free(check: str, path: Path) -> Check:
    there = next((p for p in (path, *path.parents) if p.exists()), Path("/"))
    free = shutil.disk_usage(there).free
    detail = f"{free / 2**30:.1f} GiB free at {there}"
    fix = f"free some space on the disk of {there}, or point the setting at a bigger one"
    if free < MIN_FREE:
        return fail(check, detail, fix)
    if free < 4 * MIN_FREE:
        return warn(check, detail, fix)
    return ok(check, detail)


def _clock(s: Settings) -> Check:
    now = datetime.now(UTC)
    fix = "set the time: timedatectl set-ntp true (or fix the NTP server)"
    if now.year < 2025:
        return fail("clock", f"the clock says {now.isoformat(timespec='seconds')}", fix)
    newest = _newest_record(s.state_dir / "ledger.sqlite3")
    if newest is not None and newest > now:
        behind = (newest - now).total_seconds()
        detail = f"{behind:.0f} s behind the ledger's newest record ({newest.isoformat()})"
        return fail("clock", detail, fix)
    return ok("clock", f"{now.isoformat(timespec='seconds')} (not behind the ledger)")


def _newest_record(path: Path) -> datetime | None:
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT MAX(at) FROM post_history").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    with contextlib.suppress(ValueError, TypeError):
        return datetime.fromisoformat(row[0]) if row and row[0] else None
    return None


def _daemon_running(state_dir: Path) -> bool:
    try:
        fd = os.open(state_dir / "atroposd.lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
    finally:
        os.close(fd)
    return False


def _api_port(s: Settings) -> Check:
    check = "API port"
    if not s.api_enabled:
        return ok(check, "the local API is off (API_ENABLED=false)")
    where = f"{s.api_host}:{s.api_port}"
    with socket.socket(socket.AF_INET6 if ":" in s.api_host else socket.AF_INET) as sock:
        try:
            sock.bind((s.api_host, s.api_port))
        except OSError as exc:
            if _daemon_running(s.state_dir):
                return ok(check, f"{where} in use by the running atroposd")
            fix = "stop what listens there (ss -ltnp), or set API_PORT in .env to a free port"
            return fail(check, f"{where} is taken: {exc.strerror or exc}", fix)
    return ok(check, f"{where} free")


def _unit() -> Check:
    check = "systemd unit"
    places = [
        Path("/etc/systemd/system") / UNIT,
        Path.home() / ".config/systemd/user" / UNIT,
    ]
    installed = [p for p in places if p.exists()]
    if not installed:
        return ok(check, "not installed (atroposd runs by hand; README: Install)")
    user = installed[0] != places[0]
    state = _systemctl(user, "is-active") or "unknown (systemd not running here)"
    enabled = _systemctl(user, "is-enabled") or "unknown"
    detail = f"{installed[0]}: {enabled}, {state}"
    if state == "failed":
        logs = f"journalctl {'--user ' if user else ''}-u atroposd -n 50"
        return fail(check, detail, f"see why: {logs}; then systemctl restart atroposd")
    return ok(check, detail)


def _systemctl(user: bool, verb: str) -> str | None:
    if shutil.which("systemctl") is None:
        return None
    cmd = ["systemctl", *(["--user"] if user else []), verb, UNIT]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if text and "\n" not in text else None
