"""Read-only queries for the inventory and the schedule listing: the posts waiting for a slot.

A connection of its own, opened read-only (``mode=ro``), so ``atroposd inventory`` works
beside a running daemon (WAL: readers never block the writer) and without one, and never
creates or migrates a ledger.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

LEDGER_NAME = "ledger.sqlite3"
# Posts not yet handed to a platform: they wait for their slot (or their publish_at).
WAITING = ("planned", "rendering", "ready")
# Posts on their way whose publish_at is still ahead hold that time (a natively scheduled
# post uploaded ahead of its slot: ``scheduled``, or still uploading or processing).
ON_THE_WAY = ("uploading", "processing", "publishing", "scheduled")


class QueuedPost(NamedTuple):
    """One post waiting to go out: what the forecast and the listing need of it (a named
    tuple: tens of thousands are made per forecast)."""

    id: int
    account: str
    platform: str
    clip: str  # the video's path relative to its watched root
    created_at: datetime
    sidecar_json: str | None  # may carry an explicit ``order``
    # When it goes without taking a slot: a sidecar's publish_at (or the native slot it was
    # given), or, for a post that already took its slot and waits to retry, its retry time
    # (``now`` when none). None: it waits for a slot.
    pinned_at: datetime | None


def open_readonly(state_dir: Path) -> sqlite3.Connection | None:
    """A read-only connection to the ledger in ``state_dir``; None when there is none yet."""
    path = state_dir / LEDGER_NAME
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def queued_posts(
    conn: sqlite3.Connection, now: datetime, account: str | None = None
) -> list[QueuedPost]:
    """Every post not yet out (of one account when given), in no particular order: the
    waiting ones, and those on their way with a ``publish_at`` after ``now``.

    A waiting post that was tried already (attempts, a saved handle, bytes sent, a retry
    time) took its slot before: the scheduler does not give it another
    (pipeline/scheduler.py), so it is pinned at its retry time (``now`` without one).
    """
    waiting = ",".join("?" * len(WAITING))
    on_the_way = ",".join("?" * len(ON_THE_WAY))
    stamp = _ts(now)
    sql = (
        "SELECT id, account, platform, clip_rel, created_at, sidecar_json,"
        " COALESCE(publish_at, CASE WHEN attempts > 0 OR remote_ref IS NOT NULL"
        " OR bytes_sent > 0 OR retry_at IS NOT NULL THEN COALESCE(retry_at, ?) END)"
        f" FROM posts WHERE (state IN ({waiting})"
        f" OR (state IN ({on_the_way}) AND publish_at > ?))"
    )
    args: list[str] = [stamp, *WAITING, *ON_THE_WAY, stamp]
    if account is not None:
        sql += " AND account = ?"
        args.append(account)
    cur = conn.cursor()
    cur.row_factory = None  # plain tuples: a third of the time of sqlite3.Row by name
    rows = cur.execute(sql, args).fetchall()  # no ORDER BY: the forecast groups and orders
    parse = datetime.fromisoformat
    return [
        QueuedPost(pid, account, platform, clip, parse(made), sidecar, pin and parse(pin))
        for pid, account, platform, clip, made, sidecar, pin in rows
    ]


def _ts(value: datetime) -> str:
    """The ledger's one text form of a time (UTC, microseconds), so SQL compares it as text."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def waiting_counts(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """The plain SQL count of waiting posts per (account, platform) (the benchmark's baseline)."""
    marks = ",".join("?" * len(WAITING))
    rows = conn.execute(
        f"SELECT account, platform, COUNT(*) FROM posts WHERE state IN ({marks})"
        " GROUP BY account, platform",
        WAITING,
    )
    return {(a, p): n for a, p, n in rows}
