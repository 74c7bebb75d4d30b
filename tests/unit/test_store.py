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
