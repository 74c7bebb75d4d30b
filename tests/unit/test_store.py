"""The SQLite ledger on a real file: migrations, pragmas, plan, compare-and-set transitions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from atroposd.domain import TRANSITIONS, PostState
from atroposd.errors import LockedError
from atroposd.store.db import MIGRATIONS, StateLock, connect, migrate
from atroposd.store.ledger import Drop, Ledger

from .support import FakeClock

S = PostState
SHA = "a" * 64


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ledger.sqlite3"


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(conn: sqlite3.Connection, clock: FakeClock) -> Ledger:
    return Ledger(conn, clock)


def _drop(tmp_path: Path = Path("/q"), name: str = "clip") -> Drop:
    return Drop(
        video_path=tmp_path / f"{name}.mp4",
        caption_path=tmp_path / f"{name}.txt",
        sidecar_path=None,
        root=tmp_path,
        clip_rel=f"{name}.mp4",
        caption="Hello\n#shorts",
        sidecar_json=None,
    )


def _one_post(ledger: Ledger) -> int:
    new, _ = ledger.plan(SHA, 123, "default", ["youtube"], _drop())
    return new[0].id


def test_connect_creates_schema_and_sets_user_version(db_path: Path) -> None:
    c = connect(db_path)
    try:
        assert c.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"clips", "posts", "post_history", "problems"} <= tables
    finally:
        c.close()


def test_migrations_are_idempotent_on_reopen(db_path: Path, clock: FakeClock) -> None:
    c = connect(db_path)
    Ledger(c, clock).plan(SHA, 1, "default", ["youtube"], _drop())
    c.close()
    c = connect(db_path)  # a second open must not re-run CREATE TABLE
    try:
        assert c.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert migrate(c) == len(MIGRATIONS)
        assert c.execute("SELECT count(*) FROM posts").fetchone()[0] == 1
    finally:
        c.close()


def test_journal_mode_wal_and_synchronous_full(conn: sqlite3.Connection) -> None:
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_plan_creates_one_planned_post_per_platform(ledger: Ledger) -> None:
    new, known = ledger.plan(SHA, 123, "default", ["youtube", "x"], _drop())
    assert [(p.platform, p.state, p.attempts) for p in new] == [
        ("youtube", S.PLANNED, 0),
        ("x", S.PLANNED, 0),
    ]
    assert known == []
    for post in new:
        assert ledger.history(post.id) == [(None, "planned", None)]


def test_plan_is_idempotent_per_clip_account_platform(ledger: Ledger) -> None:
    first, _ = ledger.plan(SHA, 123, "default", ["youtube"], _drop())
    again, known = ledger.plan(SHA, 123, "default", ["youtube"], _drop())
    assert again == []
    assert [p.id for p in known] == [p.id for p in first]
    assert len(ledger.list_posts()) == 1
    assert ledger.history(first[0].id) == [(None, "planned", None)]


def test_plan_adds_only_the_missing_platform(ledger: Ledger) -> None:
    ledger.plan(SHA, 123, "default", ["youtube"], _drop())
    new, known = ledger.plan(SHA, 123, "default", ["youtube", "x"], _drop())
    assert [p.platform for p in new] == ["x"]
    assert [p.platform for p in known] == ["youtube"]


def test_plan_for_another_account_gets_its_own_posts(ledger: Ledger) -> None:
    mine, _ = ledger.plan(SHA, 123, "default", ["youtube"], _drop())
    theirs, known = ledger.plan(SHA, 123, "client-b", ["youtube"], _drop())
    assert len(theirs) == 1 and known == []
    assert theirs[0].id != mine[0].id
    assert theirs[0].account == "client-b"
    assert len(ledger.posts_of(SHA)) == 2


def test_plan_records_publish_at_and_drop(ledger: Ledger, clock: FakeClock) -> None:
    when = clock.now() + timedelta(days=1)
    new, _ = ledger.plan(SHA, 1, "default", ["youtube"], _drop(), publish_at=when)
    assert new[0].publish_at == when
    assert ledger.drop_of(new[0].id) == _drop()
    with pytest.raises(KeyError):
        ledger.drop_of(9999)


def test_transition_moves_state_and_writes_one_history_row(
    ledger: Ledger, clock: FakeClock
) -> None:
    pid = _one_post(ledger)
    clock.advance(5)
    post = ledger.transition(pid, [S.PLANNED], S.READY, note="no render needed")
    assert post is not None
    assert post.state is S.READY
    assert post.updated_at == clock.now()
    assert ledger.history(pid) == [
        (None, "planned", None),
        ("planned", "ready", "no render needed"),
    ]


def test_transition_sets_fields_in_the_same_step(ledger: Ledger, clock: FakeClock) -> None:
    pid = _one_post(ledger)
    ledger.transition(pid, [S.PLANNED], S.READY)
    when = clock.now() + timedelta(minutes=3)
    post = ledger.transition(pid, [S.READY], S.UPLOADING, attempts=1, retry_at=when)
    assert post is not None
    assert (post.state, post.attempts, post.retry_at) == (S.UPLOADING, 1, when)


def test_transition_with_wrong_expected_state_is_a_no_op(ledger: Ledger) -> None:
    pid = _one_post(ledger)
    assert ledger.transition(pid, [S.READY], S.UPLOADING) is None
    post = ledger.get(pid)
    assert post is not None and post.state is S.PLANNED
    assert len(ledger.history(pid)) == 1


def test_transition_compare_and_set_second_writer_loses(ledger: Ledger) -> None:
    pid = _one_post(ledger)
    assert ledger.transition(pid, [S.PLANNED], S.READY) is not None
    assert ledger.transition(pid, [S.PLANNED], S.READY) is None
    assert len(ledger.history(pid)) == 2


def test_transition_of_unknown_post_returns_none(ledger: Ledger) -> None:
    assert ledger.transition(4242, [S.PLANNED], S.READY) is None


def test_illegal_transition_raises_and_changes_nothing(ledger: Ledger) -> None:
    pid = _one_post(ledger)
    for state in (S.READY, S.UPLOADING, S.PUBLISHED):
        assert ledger.transition(pid, [ledger.get(pid).state], state) is not None  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        ledger.transition(pid, [S.PUBLISHED], S.READY)
    post = ledger.get(pid)
    assert post is not None and post.state is S.PUBLISHED
    assert len(ledger.history(pid)) == 4


@pytest.mark.parametrize("src", list(PostState))
def test_every_disallowed_move_raises(ledger: Ledger, src: PostState) -> None:
    pid = _one_post(ledger)
    for dst in PostState:
        if dst not in TRANSITIONS[src]:
            with pytest.raises(ValueError):
                ledger.transition(pid, [src], dst)
    assert len(ledger.history(pid)) == 1


def test_transition_rejects_unknown_fields(ledger: Ledger) -> None:
    pid = _one_post(ledger)
    with pytest.raises(ValueError):
        ledger.transition(pid, [S.PLANNED], S.READY, state="published")
    assert ledger.get(pid).state is S.PLANNED  # type: ignore[union-attr]


def test_set_fields_persists_across_reopen(db_path: Path, clock: FakeClock) -> None:
    c = connect(db_path)
    led = Ledger(c, clock)
    pid = _one_post(led)
    retry = clock.now() + timedelta(hours=2)
    led.set_fields(
        pid, remote_ref='{"uri": "https://up/1"}', bytes_sent=262144, retry_at=retry, url="u"
    )
    c.close()
    c = connect(db_path)
    try:
        post = Ledger(c, clock).get(pid)
        assert post is not None
        assert post.remote_ref == '{"uri": "https://up/1"}'
        assert post.bytes_sent == 262144
        assert post.retry_at == retry
        assert post.url == "u"
        assert post.state is S.PLANNED
    finally:
        c.close()


def test_set_fields_rejects_state_and_unknown_fields(ledger: Ledger) -> None:
    pid = _one_post(ledger)
    with pytest.raises(ValueError):
        ledger.set_fields(pid, state="published")
    with pytest.raises(ValueError):
        ledger.set_fields(pid, colour="red")


def test_due_respects_retry_at(ledger: Ledger, clock: FakeClock) -> None:
    new, _ = ledger.plan(SHA, 1, "default", ["youtube", "x", "tiktok"], _drop())
    yt, x, tt = (p.id for p in new)
    now = clock.now()
    ledger.set_fields(yt, retry_at=now + timedelta(minutes=10))
    ledger.set_fields(x, retry_at=now - timedelta(seconds=1))
    ledger.transition(tt, [S.PLANNED], S.READY)
    assert [p.id for p in ledger.due(now, [S.PLANNED])] == [x]
    assert [p.id for p in ledger.due(now, [S.PLANNED, S.READY])] == [x, tt]
    later = now + timedelta(minutes=10)
    assert [p.id for p in ledger.due(later, [S.PLANNED])] == [yt, x]


def test_list_posts_filters(ledger: Ledger) -> None:
    ledger.plan(SHA, 1, "default", ["youtube", "x"], _drop())
    ledger.plan("b" * 64, 1, "other", ["youtube"], _drop())
    assert len(ledger.list_posts(platform="youtube")) == 2
    assert len(ledger.list_posts(account="other")) == 1
    assert ledger.list_posts(states=[S.READY]) == []


def test_note_problem_is_true_only_the_first_time(ledger: Ledger) -> None:
    path = Path("/q/bad.mp4")
    assert ledger.note_problem(path, "truncated") is True
    assert ledger.note_problem(path, "truncated") is False
    assert ledger.note_problem(path, "no caption") is True
    assert sorted(ledger.problems()) == [(str(path), "no caption"), (str(path), "truncated")]


def test_state_lock_second_holder_gets_locked_error_naming_pid(tmp_path: Path) -> None:
    import os

    first, second = StateLock(tmp_path / "state"), StateLock(tmp_path / "state")
    first.acquire()
    try:
        with pytest.raises(LockedError) as info:
            second.acquire()
        assert f"pid {os.getpid()}" in str(info.value)
        assert str(tmp_path / "state") in str(info.value)
    finally:
        first.release()


def test_state_lock_released_can_be_reacquired(tmp_path: Path) -> None:
    first, second = StateLock(tmp_path), StateLock(tmp_path)
    first.acquire()
    first.release()
    second.acquire()
    try:
        with pytest.raises(LockedError):
            first.acquire()
    finally:
        second.release()
    first.release()  # releasing a lock not held is harmless


def _count_rows(conn: sqlite3.Connection) -> list[int]:
    """Count the rows SQLite hands to Python from now on (the ledger reads sqlite3.Row)."""
    seen = [0]

    def factory(cursor: sqlite3.Cursor, row: tuple[object, ...]) -> sqlite3.Row:
        seen[0] += 1
        return sqlite3.Row(cursor, row)

    conn.row_factory = factory
    return seen


def _many(ledger: Ledger, n: int) -> list[int]:
    ids = []
    for i in range(n):
        new, _ = ledger.plan(f"{i:064x}", 1, "default", ["youtube"], _drop(name=f"c{i}"))
        ids.append(new[0].id)
    return ids


def test_due_reads_only_due_rows(
    ledger: Ledger, conn: sqlite3.Connection, clock: FakeClock
) -> None:
    ids = _many(ledger, 300)
    later = clock.now() + timedelta(hours=1)
    for pid in ids[3:]:
        ledger.set_fields(pid, retry_at=later)
    seen = _count_rows(conn)
    assert [p.id for p in ledger.due(clock.now(), [S.PLANNED])] == ids[:3]
    assert seen[0] == 3  # the filter runs in SQL, not over every queued row in Python


def test_due_compares_instants_whatever_offset_they_were_given_in(
    ledger: Ledger, clock: FakeClock
) -> None:
    from zoneinfo import ZoneInfo

    a, b, c = _many(ledger, 3)
    now = clock.now()  # 12:00 UTC
    tokyo, pacific = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles")
    ledger.set_fields(a, retry_at=(now - timedelta(hours=1)).astimezone(tokyo))  # 20:00+09:00
    ledger.set_fields(b, retry_at=(now + timedelta(hours=1)).astimezone(pacific))  # 05:00-08:00
    ledger.set_fields(c, retry_at=now)
    assert [p.id for p in ledger.due(now, [S.PLANNED])] == [a, c]
    assert [p.id for p in ledger.due(now.astimezone(pacific), [S.PLANNED])] == [a, c]
    post = ledger.get(b)
    assert post is not None and post.retry_at == now + timedelta(hours=1)


def test_times_are_stored_as_utc_text(ledger: Ledger, conn: sqlite3.Connection) -> None:
    from datetime import UTC, datetime, timezone

    pid = _one_post(ledger)
    ledger.set_fields(
        pid, retry_at=datetime(2026, 3, 1, 4, 0, tzinfo=timezone(timedelta(hours=-8)))
    )
    raw = conn.execute("SELECT retry_at FROM posts WHERE id = ?", (pid,)).fetchone()[0]
    assert raw == "2026-03-01T12:00:00.000000+00:00"
    ledger.set_fields(pid, retry_at=datetime(2026, 3, 1, 12, 0, 0, 5))  # naive: taken as UTC
    post = ledger.get(pid)
    assert post is not None and post.retry_at == datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)


def test_migration_4_converts_old_offsets_so_due_is_right(db_path: Path, clock: FakeClock) -> None:
    db_path.parent.mkdir(parents=True)
    c = sqlite3.connect(db_path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in script.split(";"):
            if statement.strip():
                c.execute(statement)
        c.execute(f"PRAGMA user_version={number}")
    c.execute("INSERT INTO clips VALUES (?, 1, '2026-01-01T00:00:00+00:00')", (SHA,))
    for n, retry_at in enumerate(
        ["2026-03-01T20:00:00+09:00", "2026-03-01T05:00:00-08:00", None, "2026-03-01T12:00:00Z"]
    ):
        c.execute(
            "INSERT INTO posts(clip_sha256, account, platform, state, retry_at, video_path,"
            " caption_path, root, clip_rel, caption, created_at, updated_at)"
            " VALUES (?, 'default', ?, 'ready', ?, '/q/a.mp4', '/q/a.txt', '/q', 'a.mp4', '',"
            " '2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00')",
            (SHA, f"p{n}", retry_at),
        )
    c.close()
    conn = connect(db_path)
    try:
        rows = conn.execute("SELECT retry_at FROM posts ORDER BY id").fetchall()
        assert [r[0] for r in rows] == [
            "2026-03-01T11:00:00.000000+00:00",
            "2026-03-01T13:00:00.000000+00:00",
            None,
            "2026-03-01T12:00:00.000000+00:00",
        ]
        due = Ledger(conn, clock).due(clock.now(), [S.READY])  # 12:00 UTC
        assert [p.platform for p in due] == ["p0", "p2", "p3"]
    finally:
        conn.close()


def test_posts_at_uses_an_index(ledger: Ledger, conn: sqlite3.Connection) -> None:
    ids = _many(ledger, 50)
    assert [p.id for p in ledger.posts_at(Path("/q/c7.mp4"))] == [ids[7]]
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM posts WHERE video_path = ? ORDER BY id", ("/q/c7.mp4",)
    ).fetchall()
    assert any("INDEX posts_video_path" in row[3] for row in plan), plan


def test_the_sweep_finds_uncleared_posts_through_a_partial_index(conn: sqlite3.Connection) -> None:
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM posts"
        " WHERE state = 'published' AND cleared_at IS NULL AND id > 0 ORDER BY id LIMIT 10"
    ).fetchall()
    assert any("INDEX posts_uncleared" in row[3] for row in plan), plan


def test_planning_a_clip_clears_the_problems_at_its_paths(ledger: Ledger) -> None:
    drop = _drop()
    assert ledger.note_problem(drop.video_path, "caption missing: expected clip.txt")
    assert ledger.note_problem(drop.caption_path, "empty caption: clip.txt")
    assert ledger.note_problem(Path("/q/other.mp4"), "empty video")
    ledger.plan(SHA, 1, "default", ["youtube"], drop)  # the user fixed it
    assert ledger.problems() == [("/q/other.mp4", "empty video")]
    # a later clip at the same path with the same problem is reported again
    assert ledger.note_problem(drop.video_path, "caption missing: expected clip.txt") is True


def test_forget_problems_makes_a_problem_news_again(ledger: Ledger) -> None:
    path = Path("/q/bad.mp4")
    assert ledger.note_problem(path, "empty video")
    ledger.forget_problems(path)
    assert ledger.problems() == []
    assert ledger.note_problem(path, "empty video") is True


def test_uncleared_published_posts_until_marked(ledger: Ledger, clock: FakeClock) -> None:
    ids = _many(ledger, 5)
    for pid in ids:
        for state in (S.READY, S.UPLOADING, S.PUBLISHED):
            ledger.transition(pid, [ledger.get(pid).state], state)  # type: ignore[union-attr]
    assert [p.id for p, _ in ledger.uncleared(S.PUBLISHED)] == ids
    assert [p.id for p, _ in ledger.uncleared(S.PUBLISHED, after=ids[1], limit=2)] == ids[2:4]
    ledger.mark_cleared(ids[:4])
    ledger.mark_cleared([])
    assert [p.id for p, _ in ledger.uncleared(S.PUBLISHED)] == [ids[4]]
    ledger.recheck_files("0" * 64, "default")  # the first clip's files came back
    assert [p.id for p, _ in ledger.uncleared(S.PUBLISHED)] == [ids[0], ids[4]]
    ledger.mark_cleared(ids)
    ledger.set_fields(ids[2], **_drop(name="moved").fields())  # pointed at other files
    assert [p.id for p, _ in ledger.uncleared(S.PUBLISHED)] == [ids[2]]
