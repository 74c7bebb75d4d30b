"""`atroposd inventory` and `atroposd schedule`: run-out forecast, upcoming posts (issue 11).

Both read the ledger through a read-only connection of their own (``store/queue.py``), so they
work beside a running daemon and without one, and never change the ledger.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import warnings
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from atroposd.clock import SystemClock
from atroposd.config import Settings, load_settings, load_upload_config
from atroposd.errors import ConfigError
from atroposd.log import Redactor
from atroposd.schedule.forecast import (
    LaneForecast,
    Upcoming,
    forecast,
    inventory_json,
    lanes_of,
    upcoming,
    upcoming_json,
)
from atroposd.store.db import MIGRATIONS
from atroposd.store.queue import LEDGER_NAME, QueuedPost, open_readonly, queued_posts

COMMANDS: tuple[str, ...] = ("inventory", "schedule")


def _aware(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +00:00")
    return value


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < value <= 3660:
        raise argparse.ArgumentTypeError(f"{text!r}: give between 0 and 3660 days")
    return value


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""
    inv = sub.add_parser(
        "inventory", help="clips queued per account and platform, and when each runs out"
    )
    sched = sub.add_parser("schedule", help="the upcoming posts, in time order")
    sched.add_argument("--days", type=_days, default=7.0, help="how far ahead (default: 7)")
    for cmd in (inv, sched):
        cmd.add_argument("--account", help="only this account")
        cmd.add_argument("--json", action="store_true", help="print JSON (see the README)")
        # The forecast as of another instant (reproducible output; tests).
        cmd.add_argument("--now", type=_aware, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        settings = load_settings(args.env_file)
    for warning in caught:
        print(f"atroposd: warning: {warning.message}", file=sys.stderr)
    config = load_upload_config(settings.upload_config)
    if args.account is not None and args.account not in config.accounts:
        raise ConfigError(f"--account {args.account}: not in {settings.upload_config}")
    now: datetime = args.now or SystemClock().now()
    accounts = config.accounts
    if args.account is not None:
        accounts = {args.account: config.accounts[args.account]}
    lanes = lanes_of(config.accounts)  # every account: YouTube's quota is per project
    try:
        posts = read_queue(settings, now)
    except sqlite3.DatabaseError as exc:  # one clear line, not a traceback
        where = settings.state_dir / LEDGER_NAME
        print(f"atroposd: cannot read the ledger {where}: {exc}", file=sys.stderr)
        return 2
    if args.command == "inventory":
        rows = [f for f in forecast(lanes, posts, now) if f.account in accounts]
        print(json.dumps([inventory_json(f) for f in rows], indent=2) if args.json else table(rows))
        return 0
    until = now + timedelta(days=args.days)
    listed = [u for u in upcoming(lanes, posts, now, until) if u.account in accounts]
    print(
        json.dumps([upcoming_json(u) for u in listed], indent=2) if args.json else listing(listed)
    )
    return 0


def read_queue(settings: Settings, now: datetime) -> list[QueuedPost]:
    """The posts not yet out, from a read-only connection (none when there is no ledger).

    ``sqlite3.DatabaseError`` when the file is not a ledger this version can read (these
    commands never migrate one: the daemon does at its start)."""
    conn = open_readonly(settings.state_dir)
    if conn is None:
        return []
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version < len(MIGRATIONS):
            raise sqlite3.DatabaseError(
                f"not a ledger, or one from an older atroposd (schema {version} of"
                f" {len(MIGRATIONS)}): start the daemon once to upgrade it"
            )
        return queued_posts(conn, now)
    finally:
        conn.close()


def table(rows: list[LaneForecast]) -> str:
    """The inventory as a table."""
    head = ("ACCOUNT", "PLATFORM", "MODE", "QUEUED", "PER WEEK", "RUNS OUT", "DAYS LEFT", "LIMIT")
    lines = [head]
    for f in rows:
        out = f.runs_out_at.strftime("%Y-%m-%d %H:%M %z") if f.runs_out_at else "-"
        lines.append(
            (
                f.account,
                f.platform,
                f.mode,
                str(f.queued),
                "-" if f.posts_per_week is None else str(f.posts_per_week),
                out,
                "-" if f.days_left is None else f"{f.days_left:.2f}",
                f.binding_limit or "-",
            )
        )
    return _columns(lines) if rows else "no accounts with enabled platforms"


def listing(rows: list[Upcoming]) -> str:
    """The upcoming posts as a table."""
    lines = [("AT", "ACCOUNT", "PLATFORM", "POST", "CLIP")]
    for u in rows:
        at = u.at.strftime("%Y-%m-%d %H:%M %z")
        lines.append((at, u.account, u.platform, str(u.post_id), u.clip))
    return _columns(lines) if rows else "nothing to post in that time"


def _columns(lines: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
