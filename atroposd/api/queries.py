"""The API's reads of the ledger: jobs, pages of clips, a job's history. Read-only SQL.

A **job** is one clip of one account across its platforms: the posts sharing
``(clip_sha256, account)``. Its id is the smallest post id of the group (the first post
planned for it), so it is stable and lives in the ledger: nothing is kept in memory. Pages are
newest first by keyset on that id (``id < cursor``): a page is an index seek, and clips added
or removed between pages neither shift nor repeat the others.

Every function takes a ``sqlite3.Connection`` and runs in one of the reader's own threads
(``Reader``), on a read-only connection: the daemon's event loop never waits for an API query,
and API reads never hold the default pool's threads the daemon's blocking work needs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from atroposd.domain import PostState

S = PostState
T = TypeVar("T")
RUNNING = frozenset({S.RENDERING, S.UPLOADING, S.PROCESSING, S.PUBLISHING})
WAITING = frozenset({S.PLANNED, S.READY, S.SCHEDULED})  # scheduled: posted by the platform
MAX_ID = 2**63 - 1
# A job's head: no earlier post of the same clip and account. ``+q.account`` keeps the planner
# on the (clip_sha256, account, platform) index: a few rows per clip, not every earlier post
# of the account through (account, id).
_HEAD = (
    "NOT EXISTS (SELECT 1 FROM posts q WHERE q.clip_sha256 = p.clip_sha256"
    " AND +q.account = p.account AND q.id < p.id)"
)


class Reader:
    """Read-only connections to the ledger, each used by one worker thread at a time; up to
    ``size`` of them, so a long read (a metrics scrape over a big ledger) does not hold up a
    page."""

    def __init__(self, path: Path, size: int = 3) -> None:
        self.path = path
        self._uri = f"file:{quote(str(path.absolute()))}?mode=ro"
        self._idle: list[sqlite3.Connection] = [self._open()]  # fails now, not at a request
        self._all = list(self._idle)
        self._lock = threading.Lock()
        self._free = threading.Semaphore(size)
        # Threads of its own: API reads (a websocket crowd polls) never take the default
        # pool's threads, on which the daemon's own blocking work runs (asyncio.to_thread).
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="api-read")

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._uri, uri=True, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in this thread (blocking)."""
        with self._free:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
                if conn is None:
                    conn = self._open()
                    self._all.append(conn)
            try:
                return fn(conn, *args)
            finally:
                with self._lock:
                    self._idle.append(conn)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one of the reader's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.call, fn, *args)

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` (which may ``call`` the reader) in one of the reader's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)  # never holds up a stop
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._idle.clear()


@dataclass
class Job:
    """One clip of one account and its posts, oldest post first."""

    id: int
    account: str
    sha256: str
    posts: list[sqlite3.Row] = field(default_factory=list)

    @property
    def states(self) -> list[PostState]:
        return [PostState(p["state"]) for p in self.posts]


def overall(states: Sequence[PostState]) -> str:
    """A job's state from its posts'. ``published`` only when every post is published (or
    cancelled, with at least one published): a job whose posts all failed never reads as a
    success."""
    if any(s in RUNNING for s in states):
        return "running"
    if any(s in WAITING for s in states):
        return "queued"
    published = sum(s is S.PUBLISHED for s in states)
    if published and all(s in (S.PUBLISHED, S.CANCELLED) for s in states):
        return "published"
    if published:
        return "partial"
    if S.NEEDS_ATTENTION in states:
        return "needs_attention"
    if S.FAILED in states:
        return "failed"
    return "cancelled"


def _posts_of(conn: sqlite3.Connection, head_ids: Sequence[int]) -> dict[int, Job]:
    if not head_ids:
        return {}
    marks = ",".join("?" * len(head_ids))
    rows = conn.execute(
        "SELECT h.id AS job_id, p.*, c.size FROM posts h"
        " JOIN posts p ON p.clip_sha256 = h.clip_sha256 AND p.account = h.account"
        " JOIN clips c ON c.sha256 = p.clip_sha256"
        f" WHERE h.id IN ({marks}) ORDER BY p.id",
        tuple(head_ids),
    ).fetchall()
    jobs: dict[int, Job] = {}
    for row in rows:
        job = jobs.setdefault(row["job_id"], Job(row["job_id"], row["account"], row["clip_sha256"]))
        job.posts.append(row)
    return {i: j for i, j in jobs.items() if j.posts and j.posts[0]["id"] == i}


def job(conn: sqlite3.Connection, job_id: int) -> Job | None:
    """The job with this id, or None (no such post, or not the first of its clip)."""
    return _posts_of(conn, [job_id]).get(job_id)


def job_of_post(conn: sqlite3.Connection, post_id: int) -> int | None:
    """The id of the job a post belongs to."""
    row = conn.execute(
        "SELECT MIN(q.id) FROM posts p JOIN posts q ON q.clip_sha256 = p.clip_sha256"
        " AND q.account = p.account WHERE p.id = ?",
        (post_id,),
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def page(
    conn: sqlite3.Connection, account: str | None, before: int, limit: int
) -> tuple[list[Job], int | None]:
    """Up to ``limit`` jobs with id < ``before``, newest first, and the next cursor (the last
    id, when more may follow)."""
    sql = f"SELECT p.id FROM posts p WHERE p.id < ? AND {_HEAD}"
    args: list[Any] = [before]
    if account is not None:
        sql += " AND p.account = ?"
        args.append(account)
    ids = [r[0] for r in conn.execute(sql + " ORDER BY p.id DESC LIMIT ?", (*args, limit + 1))]
    more = len(ids) > limit
    ids = ids[:limit]
    jobs = _posts_of(conn, ids)
    return [jobs[i] for i in ids if i in jobs], (ids[-1] if more and ids else None)


def count(conn: sqlite3.Connection, account: str) -> int:
    """How many clips (jobs) an account has."""
    row = conn.execute(
        "SELECT COUNT(*) FROM (SELECT DISTINCT clip_sha256 FROM posts WHERE account = ?)",
        (account,),
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class Change:
    """One ``post_history`` row of a job."""

    id: int
    post_id: int
    platform: str
    from_state: str | None
    to_state: str
    at: datetime
    note: str | None
    last_error: str | None


def history(conn: sqlite3.Connection, job_id: int, after: int) -> list[Change]:
    """The job's state changes with a history id above ``after``, oldest first."""
    rows = conn.execute(
        "SELECT h.id, h.post_id, p.platform, h.from_state, h.to_state, h.at, h.note,"
        " p.last_error FROM posts j"
        " JOIN posts p ON p.clip_sha256 = j.clip_sha256 AND p.account = j.account"
        " JOIN post_history h ON h.post_id = p.id"
        " WHERE j.id = ? AND h.id > ? ORDER BY h.id",
        (job_id, after),
    )
    return [
        Change(
            r["id"],
            r["post_id"],
            r["platform"],
            r["from_state"],
            r["to_state"],
            datetime.fromisoformat(r["at"]),
            r["note"],
            r["last_error"],
        )
        for r in rows
    ]


def queued_by_account(conn: sqlite3.Connection) -> dict[str, int]:
    """Posts still to be sent (not finished) per account."""
    active = [s.value for s in (*WAITING, *RUNNING)]
    rows = conn.execute(
        f"SELECT account, COUNT(*) FROM posts WHERE state IN ({','.join('?' * len(active))})"
        " GROUP BY account",
        active,
    )
    return {r[0]: int(r[1]) for r in rows}
