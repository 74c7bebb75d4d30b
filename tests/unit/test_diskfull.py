"""A full disk becomes one plain ``disk_full`` line now and then, never a traceback per pass."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
import structlog

from atroposd.diskfull import DiskFullLines, is_disk_full


def _sqlite_full(tmp_path: Path) -> sqlite3.OperationalError:
    """SQLite's own SQLITE_FULL from a real file whose page budget is spent."""
    db = sqlite3.connect(tmp_path / "small.sqlite3")
    db.execute("CREATE TABLE t (x BLOB)")
    db.execute("PRAGMA max_page_count = 8")
    try:
        with pytest.raises(sqlite3.OperationalError) as info:
            for _ in range(100):
                db.execute("INSERT INTO t VALUES (zeroblob(4096))")
    finally:
        db.close()
    return info.value


def test_is_disk_full_knows_sqlite_and_the_os(tmp_path: Path) -> None:
    full = _sqlite_full(tmp_path)
    assert "database or disk is full" in str(full)
    assert is_disk_full(full)
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    try:
        try:
            raise full
        except sqlite3.OperationalError as exc:
            raise RuntimeError("while admitting a clip") from exc
    except RuntimeError as wrapped:
        assert is_disk_full(wrapped)
    assert not is_disk_full(sqlite3.OperationalError("database is locked"))
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(None)


def test_one_plain_line_then_quiet_then_a_reminder(tmp_path: Path) -> None:
    now = [100.0]
    lines = DiskFullLines(tmp_path / "state", every=600, monotonic=lambda: now[0])
    full = _sqlite_full(tmp_path)
    event = {"event": "reconcile_failed", "exc_info": full, "timestamp": "t"}
    said = lines(None, "error", dict(event))
    assert said["event"] == "disk_full" and "exc_info" not in said
    assert said["message"] == f"disk full: cannot write the ledger in {tmp_path / 'state'}"
    assert said["during"] == "reconcile_failed"
    now[0] += 599
    with pytest.raises(structlog.DropEvent):
        lines(None, "error", dict(event))
    now[0] += 2
    assert lines(None, "error", dict(event))["event"] == "disk_full"
    other = {"event": "reconcile_failed", "exc_info": ValueError("a bug")}
    assert lines(None, "error", dict(other)) == other  # anything else is left as it is
    enospc = OSError(errno.ENOSPC, "No space left on device", "/state/tokens/x.json.enc")
    now[0] += 601
    said = lines(None, "error", {"event": "vault_write_failed", "exc_info": enospc})
    assert said["message"] == "disk full: cannot write /state/tokens/x.json.enc"
