"""`atroposd auth login|logout|status|rotate-key|keygen`: logins and the token key (issue 9).

``login`` runs the platform's flow (``providers/auth/logins.py``) with a loopback redirect or,
with ``--no-browser``, a pasted redirect address; the credentials go to the vault, the login's
non-secret facts to its notes, and posts parked in ``needs_attention`` for that account and
platform because the login had died are re-armed (the running daemon's sweep sends them). In
sandbox the flow runs against the emulator at SANDBOX_URL, which approves at once. No token,
client secret or key is ever printed. See docs/auth.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from atroposd import keys
from atroposd.clock import SystemClock
from atroposd.config import Settings, UploadConfig, load_settings, load_upload_config, platform_id
from atroposd.domain import Attention, PostState
from atroposd.errors import ConfigError, ProviderError
from atroposd.log import Redactor
from atroposd.preflight import folder, listening, open_ledger
from atroposd.providers import REGISTRY
from atroposd.providers.auth.flows import LoginPlan
from atroposd.providers.auth.login import LoginFailed
from atroposd.providers.auth.logins import LOGINS
from atroposd.providers.auth.redirect import Browser, can_open_browser
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.providers.spec import TITLES
from atroposd.store.ledger import Ledger
from atroposd.vault import SUFFIX, Undecryptable, Vault

COMMANDS: tuple[str, ...] = ("auth",)
# What a login learns that is no secret: kept in the notes file beside the token file.
FACTS = ("obtained_at", "scope", "refresh_expires_at", "page_id", "ig_user_id", "choices")
S = PostState
# Platforms that match the redirect URI exactly (no loopback port wildcard): --port is needed.
EXACT_REDIRECT = frozenset({"facebook", "instagram", "snapchat", "x"})
# What to do about a token file no key opens (login and logout refuse to touch it).
RECOVER = (
    "put the key that opens it back in TOKEN_FERNET_KEY (several comma-separated keys may be "
    "listed), or, if that key is lost, remove {path} and log in again"
)


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""
    auth = sub.add_parser("auth", help="log accounts in and out of platforms; the token key")
    cmds = auth.add_subparsers(dest="auth_command", required=True)
    login = cmds.add_parser("login", help="log an account in to a platform (OAuth in a browser)")
    login.add_argument("platform", choices=sorted(LOGINS))
    login.add_argument("--account", help="the account in upload_config.json (default: its default)")
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="headless (over SSH): print the URL, then paste the address the browser ends on",
    )
    login.add_argument(
        "--port",
        type=_port,
        default=0,
        help="the loopback port of the redirect (default: any free)",
    )
    login.add_argument("--timeout", type=_seconds, default=600.0, help="seconds to wait (600)")
    logout = cmds.add_parser("logout", help="revoke a login where the platform allows it")
    logout.add_argument("platform", choices=sorted(LOGINS))
    logout.add_argument("--account", help="the account (default: the default account)")
    status = cmds.add_parser("status", help="every account's logins: expiry, scopes, errors")
    status.add_argument("--json", action="store_true")
    cmds.add_parser("rotate-key", help="re-encrypt every token file with the first key")
    cmds.add_parser("keygen", help="print a new random token key (Fernet)")


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 1-65535 (0: any free port)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1e7:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds above 0")
    return value


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    if args.auth_command == "keygen":
        print(keys.new_key())
        return 0
    settings = load_settings(args.env_file)
    for name in settings.secrets:
        redactor.pin(settings.secret(name))
    if args.auth_command == "rotate-key":
        return keys.rotate_key(settings)
    config = load_upload_config(settings.upload_config)
    if args.auth_command == "status":
        return _status(settings, config, args.json)
    account = args.account or config.default_account
    if account not in config.accounts:
        raise ConfigError(f"--account {account}: not in {settings.upload_config}")
    folder("TOKENS_DIR", settings.tokens_dir, write=True, private=True)
    if args.auth_command == "login":
        return _login(settings, config, args, account, redactor)
    return _logout(settings, config, args.platform, account)


def _context(
    settings: Settings, config: UploadConfig, http: httpx.AsyncClient, vault: Vault
) -> ProviderContext:
    return ProviderContext(
        http=http,
        credentials=vault,
        clock=SystemClock(),
        sandbox=settings.sandbox,
        sandbox_url=settings.sandbox_url,
        chunk_size=settings.chunk_size,
        secrets={n: settings.secret(n) or "" for n in settings.secrets},
        overrides=settings.platform_settings,
        account_ids=lambda platform, account: platform_id(config, settings, account, platform),
        accounts=config.choices_on,
    )


def _plan(ctx: ProviderContext, config: UploadConfig, platform: str, account: str) -> LoginPlan:
    REGISTRY[platform](ctx)  # the provider's own checks: app keys present, hosts well formed
    block = getattr(config.accounts[account].platforms, platform, None)
    options = block.model_dump() if block is not None else {}
    return LOGINS[platform](ctx, account, options)


def _login(
    settings: Settings,
    config: UploadConfig,
    args: argparse.Namespace,
    account: str,
    redactor: Redactor,
) -> int:
    platform, title = args.platform, TITLES.get(args.platform, args.platform)
    if not settings.sandbox and platform in EXACT_REDIRECT and not args.port:
        print(
            f"atroposd: {title} redirects only to a URI registered exactly, port included: "
            "register http://127.0.0.1:<port>/callback with the app once (any free port, e.g. "
            f"8765) and pass that --port every time; a free port picked now would not match",
            file=sys.stderr,
        )
        return 2
    if settings.sandbox and not listening(settings.sandbox_url):
        print(
            f"atroposd: sandbox: no emulator at {settings.sandbox_url} to log in against; "
            "start one with `atroposd emulator` (or run the daemon, which serves one)",
            file=sys.stderr,
        )
        return 1
    vault = keys.open_vault(settings)
    try:  # before the browser step: a login that cannot be stored is not started
        vault.check_save(account, platform)
    except (Undecryptable, OSError) as exc:
        print(f"atroposd: {_unsaveable(exc, settings, account)}", file=sys.stderr)
        return 2
    browser = Browser(
        out=sys.stdout,
        inp=sys.stdin,
        open=webbrowser.open if can_open_browser() and not args.no_browser else None,
        paste=args.no_browser,
        port=args.port,
        timeout=args.timeout,
    )
    hints = {"sandbox_account": account} if settings.sandbox else {}

    async def flow() -> Credentials:
        async with httpx.AsyncClient(timeout=30.0, follow_redirects=False) as http:
            plan = _plan(_context(settings, config, http, vault), config, platform, account)
            return await plan.login(http, browser, account, hints, SystemClock().now)

    try:
        creds = asyncio.run(flow())
    except (LoginFailed, ProviderError) as exc:
        print(f"atroposd: {title} login of {account!r} failed: {exc}", file=sys.stderr)
        return 1
    creds, facts = split_facts(creds)
    secret = creds.extra.get("token_secret")  # X OAuth 1.0a
    redactor.current((account, platform), creds.access_token, creds.refresh_token, secret)
    try:
        vault.save(account, platform, creds)
    except (Undecryptable, OSError) as exc:  # changed since the check: nothing was stored
        print(f"atroposd: {_unsaveable(exc, settings, account)}", file=sys.stderr)
        return 2
    _note_login(vault, account, platform, creds, facts)
    resumed = resume_parked(settings, account, platform)
    until = _when(creds.expires_at) if creds.expires_at else "does not expire"
    print(f"{title}: account {account!r} is logged in (access token: {until}).")
    if resumed:
        print(f"{resumed} post(s) waiting for this login will be sent again.")
    if no_refresh(platform, creds):
        print(f"Note: {no_refresh(platform, creds)}.")
    if facts.get("choices"):  # Meta: no id configured to post to; the ones this login has
        print(f"Note: {facts['choices']}.")
    if platform not in config.platforms_for(account):
        print(f"Note: {platform} is not enabled for {account!r} in {settings.upload_config}.")
    return 0


def _unsaveable(exc: Exception, settings: Settings, account: str) -> str:
    """One line on why a login cannot be stored (never a key or a token)."""
    if isinstance(exc, Undecryptable):
        return f"{exc}: {RECOVER.format(path=exc.path)}"
    where = getattr(exc, "filename", None) or settings.tokens_dir / account
    return f"{where}: cannot store the login: {getattr(exc, 'strerror', None) or exc}"


def no_refresh(platform: str, creds: Credentials) -> str:
    """What to say when a login that expires came without a refresh token ("" otherwise):
    the daemon cannot renew it (Meta's long-lived token is renewed by exchange instead)."""
    if creds.refresh_token or creds.expires_at is None or platform in ("facebook", "instagram"):
        return ""
    return (
        f"{TITLES.get(platform, platform)} issued no refresh token: this login works "
        f"{_when(creds.expires_at)} and the daemon cannot renew it; remove the app's access in "
        "your account's settings, then log in again"
    )


def split_facts(creds: Credentials) -> tuple[Credentials, dict[str, str]]:
    """The login's non-secret facts (scope, when, expiries, ids checked) go to the notes
    file, not into the encrypted credentials: every value there is treated as a secret
    (redacted from logs), and these are shown by ``auth status``."""
    facts = {k: v for k, v in creds.extra.items() if k in FACTS}
    kept = {k: v for k, v in creds.extra.items() if k not in FACTS}
    return Credentials(creds.access_token, creds.refresh_token, creds.expires_at, kept), facts


def _note_login(
    vault: Vault, account: str, platform: str, creds: Credentials, facts: dict[str, str]
) -> None:
    vault.note(
        account,
        platform,
        connected_at=facts.get("obtained_at") or datetime.now(UTC).isoformat(),
        scopes=sorted(s for s in facts.get("scope", "").replace(",", " ").split() if s),
        access_expires_at=creds.expires_at,
        refresh_expires_at=facts.get("refresh_expires_at"),
        page_id=facts.get("page_id"),
        ig_user_id=facts.get("ig_user_id"),
        last_error=None,
    )


def resume_parked(settings: Settings, account: str, platform: str) -> int:
    """Re-arm the posts parked because this login had died (as ``atroposd retry`` does)."""
    if not (settings.state_dir / "ledger.sqlite3").exists():
        return 0
    conn = open_ledger(settings.state_dir)
    try:
        ledger = Ledger(conn, SystemClock())
        parked = ledger.list_posts([S.NEEDS_ATTENTION], account=account, platform=platform)
        done = 0
        for post in parked:
            if post.attention != Attention.LOGIN:
                continue
            moved = ledger.transition(
                post.id,
                [S.NEEDS_ATTENTION],
                S.READY,
                note="login renewed (atroposd auth login)",
                retry_at=None,
                attempts=0,
                attention=None,
            )
            done += moved is not None
        return done
    finally:
        conn.close()


def _logout(settings: Settings, config: UploadConfig, platform: str, account: str) -> int:
    title = TITLES.get(platform, platform)
    path = settings.tokens_dir / account / f"{platform}{SUFFIX}"
    if not path.exists():
        print(f"{title}: account {account!r} has no stored login ({path}); nothing to do.")
        return 0
    vault = Vault(settings.tokens_dir, keys.load_keys(settings), sandbox=False)
    try:
        creds = vault.load(account, platform)
    except Undecryptable as exc:
        print(f"atroposd: {exc}: {RECOVER.format(path=exc.path)}", file=sys.stderr)
        return 2

    async def revoke() -> str:
        async with httpx.AsyncClient(timeout=30.0, follow_redirects=False) as http:
            plan = _plan(_context(settings, config, http, vault), config, platform, account)
            if plan.revoke is None:
                return plan.no_revoke
            try:
                await plan.revoke(http, creds)
            except (LoginFailed, ProviderError) as exc:
                return f"{exc}; remove the app's access in your {title} settings"
            return f"{title} revoked the login."

    print(asyncio.run(revoke()))
    vault.remove(account, platform)  # the token file and its notes, under the folder's lock
    print(f"{title}: account {account!r} is logged out ({path} removed).")
    return 0


def _when(moment: datetime) -> str:
    return "until " + moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _status(settings: Settings, config: UploadConfig, as_json: bool) -> int:
    rows, failed = status_rows(settings, config)
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(_line(row))
    for line in failed:
        print(f"atroposd: {line}", file=sys.stderr)
    return 2 if failed else 0


def _line(row: dict[str, Any]) -> str:
    state = "connected" if row["connected"] else "not connected"
    if row.get("source") == "sandbox stand-in":
        state += " (sandbox stand-in)"
    parts = [f"{row['account']:<16} {row['platform']:<10} {state:<14}"]
    for key, label in (
        ("access_expires_at", "access until"),
        ("refresh_expires_at", "refresh until"),
        ("last_refresh", "last refresh"),
        ("last_error", "last error"),
        ("problem", ""),
    ):
        if row.get(key):
            parts.append(f"{label} {row[key]}".strip())
    if row.get("scopes"):
        parts.append("scopes " + " ".join(row["scopes"]))
    return "  ".join(parts)


def status_rows(settings: Settings, config: UploadConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per account and enabled platform (never a token), and the files no key opens."""
    vault = Vault(settings.tokens_dir, keys.load_keys(settings), sandbox=False)  # reads only
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    failed: list[str] = []
    for account, acc in sorted(config.accounts.items()):
        for platform in acc.platforms.enabled():
            try:
                row, problem = _row(vault, settings.tokens_dir, account, platform, now)
            except OSError as exc:  # not a folder, a folder where a file should be, unreadable
                row = _unreadable(account, platform, exc)
                problem = f"{exc.filename or settings.tokens_dir}: cannot read: {exc.strerror}"
            if settings.sandbox and row["source"] is None and not problem:
                row["problem"] += " (in sandbox a stand-in is made on first use)"
            if settings.sandbox and row["source"] == "login" and not row["connected_at"]:
                row["source"] = "sandbox stand-in"  # made by the vault, refreshed since: no login
            rows.append(row)
            if problem:
                failed.append(problem)
    return rows, failed


def _unreadable(account: str, platform: str, exc: OSError) -> dict[str, Any]:
    row = _blank(account, platform, {})
    row["problem"] = f"cannot read its token file ({exc.strerror}): check TOKENS_DIR"
    return row


def _blank(account: str, platform: str, notes: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": account,
        "platform": platform,
        "connected": False,
        "source": None,
        "scopes": notes.get("scopes") or [],
        "access_expires_at": notes.get("access_expires_at"),
        "refresh_expires_at": notes.get("refresh_expires_at"),
        "has_refresh_token": False,
        "connected_at": notes.get("connected_at"),
        "last_refresh": notes.get("last_refresh"),
        "last_error": notes.get("last_error"),
        "last_error_at": notes.get("last_error_at"),
        "page_id": notes.get("page_id"),  # the Meta ids the login was checked against
        "ig_user_id": notes.get("ig_user_id"),
        "problem": None,
    }


def _row(
    vault: Vault, tokens_dir: Path, account: str, platform: str, now: datetime
) -> tuple[dict[str, Any], str | None]:
    notes = vault.notes(account, platform)
    row = _blank(account, platform, notes)
    path = tokens_dir / account / f"{platform}{SUFFIX}"
    if not path.exists():
        row["problem"] = f"no login: atroposd auth login {platform} --account {account}"
        return row, None
    try:
        creds = vault.load(account, platform)
    except Undecryptable as exc:
        row["problem"] = "cannot decrypt with TOKEN_FERNET_KEY"
        return row, str(exc)
    extra = creds.extra
    stand_in = not creds.access_token and not row["connected_at"]
    refresh_until = row["refresh_expires_at"] or extra.get("refresh_expires_at")
    row.update(
        source="sandbox stand-in" if stand_in else "login",
        has_refresh_token=bool(creds.refresh_token),
        access_expires_at=creds.expires_at.isoformat() if creds.expires_at else None,
        refresh_expires_at=refresh_until,
        connected_at=row["connected_at"] or extra.get("obtained_at"),
    )
    if not row["scopes"] and extra.get("scope"):
        row["scopes"] = sorted(extra["scope"].replace(",", " ").split())
    alive = creds.expires_at is None or creds.expires_at > now
    usable = bool(creds.refresh_token) or (bool(creds.access_token) and alive)
    if refresh_until and datetime.fromisoformat(refresh_until) <= now:
        usable = False
    row["connected"] = usable
    if not usable:
        row["problem"] = f"expired: atroposd auth login {platform} --account {account}"
    return row, None
