"""SQLite connection (WAL, synchronous=FULL), numbered migrations, and the state-dir lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import IO

from atroposd.errors import LockedError
from atroposd.store.locks import Busy, drop, take

MIGRATIONS: tuple[str, ...] = (
    # 1: clips, posts (one per clip x account x platform), their history, reported problems
    """
    CREATE TABLE clips (
        sha256      TEXT PRIMARY KEY,
        size        INTEGER NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE posts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        clip_sha256   TEXT NOT NULL REFERENCES clips(sha256),
        account       TEXT NOT NULL,
        platform      TEXT NOT NULL,
        state         TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        retry_at      TEXT,
        publish_at    TEXT,
        remote_ref    TEXT,
        remote_id     TEXT,
        url           TEXT,
        last_error    TEXT,
        bytes_sent    INTEGER NOT NULL DEFAULT 0,
        video_path    TEXT NOT NULL,
        caption_path  TEXT NOT NULL,
        sidecar_path  TEXT,
        root          TEXT NOT NULL,
        clip_rel      TEXT NOT NULL,
        caption       TEXT NOT NULL,
        sidecar_json  TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        UNIQUE (clip_sha256, account, platform)
    );
    CREATE INDEX posts_state ON posts(state, retry_at);
    CREATE TABLE post_history (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        post_id    INTEGER NOT NULL REFERENCES posts(id),
        from_state TEXT,
        to_state   TEXT NOT NULL,
        at         TEXT NOT NULL,
        note       TEXT
    );
    CREATE INDEX post_history_post ON post_history(post_id);
    CREATE TABLE problems (
        path        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        first_seen  TEXT NOT NULL,
        PRIMARY KEY (path, reason)
    );
    """,
    # 2: the video's identity when planned, to notice a file replaced before it was uploaded
    """
    ALTER TABLE posts ADD COLUMN video_mtime_ns INTEGER;
    ALTER TABLE posts ADD COLUMN video_inode INTEGER;
    """,
    # 3: why a post needs attention, so only file problems are re-armed automatically
    """
    ALTER TABLE posts ADD COLUMN attention TEXT;
    """,
    # 4: months of uptime. Posts found by video path through an index; retry_at in one UTC
    # format (YYYY-MM-DDTHH:MM:SS.ffffff+00:00, as the ledger writes it now) so SQL can compare
    # it as text (older rows with other offsets are converted; sub-millisecond digits of those
    # few are dropped); cleared_at: when a published post's files were seen gone from the
    # watched folder, so the reconcile sweep stops looking at them (the partial index holds
    # only the rows it still looks at).
    """
    CREATE INDEX posts_video_path ON posts(video_path);
    ALTER TABLE posts ADD COLUMN cleared_at TEXT;
    CREATE INDEX posts_uncleared ON posts(state, id) WHERE cleared_at IS NULL;
    UPDATE posts SET retry_at = strftime('%Y-%m-%dT%H:%M:%f', retry_at) || '000+00:00'
        WHERE retry_at IS NOT NULL
        AND (length(retry_at) != 32 OR substr(retry_at, 27) != '+00:00');
    """,
    # 5: when the platform accepted a post's publish call: from then on the publish is never
    # sent again, whatever the platform's listing says (it may lag the answer)
    """
    ALTER TABLE posts ADD COLUMN publish_accepted_at TEXT;
    """,
    # 6: the local API pages an account's clips and jobs newest first by keyset on the post id
    # (api/queries.py): a seek per page, not a scan of every account's posts
    """
    CREATE INDEX posts_account_id ON posts(account, id);
    """,
)


def connect(path: Path) -> sqlite3.Connection:
    """Open the ledger, apply pending migrations, return the connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    migrate(conn)
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply migrations numbered after ``PRAGMA user_version``; return the new version."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


class StateLock:
    """An exclusive ``flock`` on ``<state_dir>/atroposd.lock``: one daemon per state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "atroposd.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``LockedError`` naming the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._file = take(self.path)
        except Busy as busy:
            raise LockedError(
                f"another atroposd (pid {busy.holder}) is already using {self.path.parent}; "
                "stop it first or set STATE_DIR to another folder"
            ) from None

    def release(self) -> None:
        """Drop the lock."""
        if self._file is not None:
            drop(self._file)
            self._file = None
