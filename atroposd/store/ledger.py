"""Clips and posts. ``transition`` is the only writer of a post's state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from atroposd.clock import Clock
from atroposd.domain import FileIdentity, Post, PostState, can_transition

_POST_FIELDS = frozenset(
    {
        "attempts",
        "retry_at",
        "publish_at",
        "remote_ref",
        "remote_id",
        "url",
        "last_error",
        "bytes_sent",
        "video_path",
        "caption_path",
        "sidecar_path",
        "root",
        "clip_rel",
        "video_mtime_ns",
        "video_inode",
        "attention",
        "caption",
        "sidecar_json",
        "publish_accepted_at",
    }
)


@dataclass(frozen=True)
class Drop:
    """Where a clip's files are for one account, plus the caption read when it was planned."""

    video_path: Path
    caption_path: Path
    sidecar_path: Path | None
    root: Path
    clip_rel: str
    caption: str
    sidecar_json: str | None
    identity: FileIdentity | None = None  # the video's when planned

    def intact(self) -> bool:
        """True when the video is still on disk as it was when planned."""
        try:
            now = FileIdentity.of(self.video_path)
        except OSError:
            return False
        return self.identity is None or now == self.identity

    def fields(self) -> dict[str, Any]:
        """The post columns that say where the files are (the size lives in ``clips``)."""
        return {
            "video_path": str(self.video_path),
            "caption_path": str(self.caption_path),
            "sidecar_path": str(self.sidecar_path) if self.sidecar_path else None,
            "root": str(self.root),
            "clip_rel": self.clip_rel,
            "video_mtime_ns": self.identity.mtime_ns if self.identity else None,
            "video_inode": self.identity.inode if self.identity else None,
        }


def _ts(value: datetime | None) -> str | None:
    """One text form for every stored time: UTC, microseconds, ``+00:00``; sorts as it reads.

    SQL compares ``retry_at`` as text, so every writer must use this form (naive values are
    taken as UTC).
    """
    if value is None:
        return None
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _post(row: sqlite3.Row) -> Post:
    return Post(
        id=row["id"],
        clip_sha256=row["clip_sha256"],
        account=row["account"],
        platform=row["platform"],
        state=PostState(row["state"]),
        attempts=row["attempts"],
        retry_at=_dt(row["retry_at"]),
        publish_at=_dt(row["publish_at"]),
        remote_ref=row["remote_ref"],
        remote_id=row["remote_id"],
        url=row["url"],
        last_error=row["last_error"],
        bytes_sent=row["bytes_sent"],
        created_at=_dt(row["created_at"]) or datetime.min,
        updated_at=_dt(row["updated_at"]) or datetime.min,
        attention=row["attention"],
        publish_accepted_at=_dt(row["publish_accepted_at"]),
    )


def _drop(row: sqlite3.Row) -> Drop:
    """The drop of a ``posts`` row joined with its clip's ``size``."""
    return Drop(
        video_path=Path(row["video_path"]),
        caption_path=Path(row["caption_path"]),
        sidecar_path=Path(row["sidecar_path"]) if row["sidecar_path"] else None,
        root=Path(row["root"]),
        clip_rel=row["clip_rel"],
        caption=row["caption"],
        sidecar_json=row["sidecar_json"],
        identity=(
            FileIdentity(row["size"], row["video_mtime_ns"], row["video_inode"])
            if row["video_inode"] is not None
            else None
        ),
    )


class Ledger:
    """The durable record of every clip and post."""

    def __init__(self, conn: sqlite3.Connection, clock: Clock) -> None:
        self._conn = conn
        self._clock = clock

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def plan(
        self,
        sha256: str,
        size: int,
        account: str,
        platforms: Iterable[str],
        drop: Drop,
        publish_at: datetime | None = None,
    ) -> tuple[list[Post], list[Post]]:
        """Record a clip and one post per platform; return (newly planned, already known)."""
        now = _ts(self._clock.now())
        new_ids: list[int] = []
        with self._tx() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO clips(sha256, size, created_at) VALUES (?,?,?)",
                (sha256, size, now),
            )
            for platform in platforms:
                row = {
                    "clip_sha256": sha256,
                    "account": account,
                    "platform": platform,
                    "state": PostState.PLANNED.value,
                    "publish_at": _ts(publish_at),
                    "caption": drop.caption,
                    "sidecar_json": drop.sidecar_json,
                    "created_at": now,
                    "updated_at": now,
                    **drop.fields(),
                }
                cur = tx.execute(
                    f"INSERT OR IGNORE INTO posts({', '.join(row)}) "
                    f"VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
                if cur.rowcount == 1 and cur.lastrowid is not None:
                    new_ids.append(cur.lastrowid)
                    tx.execute(
                        "INSERT INTO post_history(post_id, from_state, to_state, at)"
                        " VALUES (?,?,?,?)",
                        (cur.lastrowid, None, "planned", now),
                    )
            # The files are usable now: a later problem at these paths is news again.
            paths = [drop.video_path, drop.caption_path, drop.sidecar_path]
            tx.executemany(
                "DELETE FROM problems WHERE path = ?", [(str(p),) for p in paths if p is not None]
            )
        posts = self.posts_of(sha256, account)
        new = [p for p in posts if p.id in new_ids]
        return new, [p for p in posts if p.id not in new_ids]

    def transition(
        self,
        post_id: int,
        expected: Iterable[PostState],
        to: PostState,
        note: str | None = None,
        **fields: Any,
    ) -> Post | None:
        """Compare-and-set ``state`` from one of ``expected`` to ``to`` plus fields, with history.

        Returns the updated post, or None when the post was not in an expected state.
        """
        allowed = [s for s in expected if can_transition(s, to)]
        if not allowed or set(fields) - _POST_FIELDS:
            raise ValueError(f"illegal transition to {to} from {list(expected)} / {set(fields)}")
        now = _ts(self._clock.now())
        values = {k: (_ts(v) if isinstance(v, datetime) else v) for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in values)
        marks = ",".join("?" * len(allowed))
        with self._tx() as tx:
            row = tx.execute("SELECT state FROM posts WHERE id = ?", (post_id,)).fetchone()
            cur = tx.execute(
                f"UPDATE posts SET state = ?, updated_at = ?{', ' + sets if sets else ''} "
                f"WHERE id = ? AND state IN ({marks})",
                (to.value, now, *values.values(), post_id, *[s.value for s in allowed]),
            )
            if cur.rowcount != 1:
                return None
            tx.execute(
                "INSERT INTO post_history(post_id, from_state, to_state, at, note) "
                "VALUES (?,?,?,?,?)",
                (post_id, row["state"], to.value, now, note),
            )
        return self.get(post_id)

    def set_fields(self, post_id: int, **fields: Any) -> None:
        """Update non-state fields (saved remote handle, bytes sent) durably."""
        if set(fields) - _POST_FIELDS:
            raise ValueError(f"unknown post fields {set(fields) - _POST_FIELDS}")
        values = {k: (_ts(v) if isinstance(v, datetime) else v) for k, v in fields.items()}
        if "video_path" in values:  # files pointed elsewhere: the sweep looks at them again
            values["cleared_at"] = None
        sets = ", ".join(f"{k} = ?" for k in values)
        with self._tx() as tx:
            tx.execute(
                f"UPDATE posts SET {sets}, updated_at = ? WHERE id = ?",
                (*values.values(), _ts(self._clock.now()), post_id),
            )

    def get(self, post_id: int) -> Post | None:
        """One post by id."""
        row = self._conn.execute("SELECT * FROM posts WHERE id = ?", (post_id,)).fetchone()
        return _post(row) if row else None

    def drop_of(self, post_id: int) -> Drop:
        """The files and caption a post was planned from."""
        row = self._conn.execute(
            "SELECT posts.*, clips.size FROM posts JOIN clips ON clips.sha256 = posts.clip_sha256"
            " WHERE posts.id = ?",
            (post_id,),
        ).fetchone()
        if row is None:
            raise KeyError(post_id)
        return _drop(row)

    def posts_of(self, sha256: str, account: str | None = None) -> list[Post]:
        """Every post of a clip (for one account when given)."""
        sql, args = "SELECT * FROM posts WHERE clip_sha256 = ?", [sha256]
        if account is not None:
            sql, args = sql + " AND account = ?", [*args, account]
        return [_post(r) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def posts_at(self, video_path: Path) -> list[Post]:
        """Every post planned from (or moved to) this video path."""
        rows = self._conn.execute(
            "SELECT * FROM posts WHERE video_path = ? ORDER BY id", (str(video_path),)
        )
        return [_post(r) for r in rows]

    def list_posts(
        self,
        states: Iterable[PostState] | None = None,
        account: str | None = None,
        platform: str | None = None,
    ) -> list[Post]:
        """Posts filtered by state/account/platform, oldest first."""
        sql, args = "SELECT * FROM posts WHERE 1=1", []
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        for column, value in (("account", account), ("platform", platform)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        return [_post(r) for r in self._conn.execute(sql + " ORDER BY id", args)]

    def due(self, now: datetime, states: Iterable[PostState]) -> list[Post]:
        """Posts in ``states`` whose ``retry_at`` has passed.

        ``publish_at`` does not gate the upload: platforms with native scheduling (YouTube's
        ``status.publishAt``) get the clip early and publish it at that time themselves.
        """
        wanted = [s.value for s in states]
        rows = self._conn.execute(
            f"SELECT * FROM posts WHERE state IN ({','.join('?' * len(wanted))})"
            " AND (retry_at IS NULL OR retry_at <= ?) ORDER BY id",
            (*wanted, _ts(now)),
        )
        return [_post(r) for r in rows]

    def uncleared(
        self, state: PostState, after: int = 0, limit: int = 500
    ) -> list[tuple[Post, Drop]]:
        """Posts in ``state`` whose files were not yet seen gone, with their drops, by id."""
        rows = self._conn.execute(
            "SELECT posts.*, clips.size FROM posts JOIN clips ON clips.sha256 = posts.clip_sha256"
            " WHERE state = ? AND cleared_at IS NULL AND id > ? ORDER BY id LIMIT ?",
            (state.value, after, limit),
        )
        return [(_post(r), _drop(r)) for r in rows]

    def mark_cleared(self, post_ids: Iterable[int]) -> None:
        """Record that these posts' files are gone from the watched folder (one commit)."""
        now = _ts(self._clock.now())
        rows = [(now, i) for i in post_ids]
        if rows:
            with self._tx() as tx:
                tx.executemany("UPDATE posts SET cleared_at = ? WHERE id = ?", rows)

    def recheck_files(self, sha256: str, account: str) -> None:
        """The clip's files came back: let the sweep look at them again."""
        with self._tx() as tx:
            tx.execute(
                "UPDATE posts SET cleared_at = NULL WHERE clip_sha256 = ? AND account = ?",
                (sha256, account),
            )

    def entered_at(self, post_id: int, state: PostState, first: bool = False) -> datetime | None:
        """When the post last (or ``first``) moved into ``state`` from another state."""
        row = self._conn.execute(
            "SELECT at FROM post_history WHERE post_id = ? AND to_state = ?"
            " AND (from_state IS NULL OR from_state != to_state)"
            f" ORDER BY id {'ASC' if first else 'DESC'} LIMIT 1",
            (post_id, state.value),
        ).fetchone()
        return _dt(row["at"]) if row else None

    def history(self, post_id: int) -> list[tuple[str | None, str, str | None]]:
        """(from, to, note) rows of one post, oldest first."""
        rows = self._conn.execute(
            "SELECT from_state, to_state, note FROM post_history WHERE post_id = ? ORDER BY id",
            (post_id,),
        )
        return [(r["from_state"], r["to_state"], r["note"]) for r in rows]

    def note_problem(self, path: Path, reason: str) -> bool:
        """Record a problem with a file; True the first time this (path, reason) is seen."""
        with self._tx() as tx:
            cur = tx.execute(
                "INSERT OR IGNORE INTO problems(path, reason, first_seen) VALUES (?,?,?)",
                (str(path), reason, _ts(self._clock.now())),
            )
        return cur.rowcount == 1

    def forget_problems(self, path: Path) -> None:
        """The file at ``path`` is gone (or fixed): a problem there is news again."""
        with self._tx() as tx:
            tx.execute("DELETE FROM problems WHERE path = ?", (str(path),))

    def problems(self) -> list[tuple[str, str]]:
        """Every (path, reason) problem recorded."""
        rows = self._conn.execute("SELECT path, reason FROM problems ORDER BY first_seen")
        return [(r["path"], r["reason"]) for r in rows]
