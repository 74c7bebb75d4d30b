"""Two daemons on one watched folder (each with its own STATE_DIR) would post every clip twice.

Found by a user trial: a second ``atroposd run`` started from another directory (the default
STATE_DIR is relative to it) with the same UPLOAD_FOLDER posted each clip a second time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atroposd.errors import LockedError
from atroposd.store.locks import FOLDER_LOCK, FolderLocks
from tests.mounts import private_mounts, tmpfs
from tests.support import Daemon, Emulator, Workspace, wait_for


def _started_or_exited(run: Daemon) -> bool:
    return run.proc.poll() is not None or bool(run.events("daemon_started"))


def _refused_line(run: Daemon) -> str:
    """The second process ended with exit 2 and one line on stderr; that line."""
    wait_for(lambda: _started_or_exited(run), 60, "the second process to start or exit")
    if run.proc.poll() is None:
        run.stop()
        raise AssertionError("the second daemon started on a watched folder")
    code = run.wait(30)
    err = "".join(run.stderr)
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("args", [("run",), ("upload", "--once")])
def test_a_second_daemon_on_the_same_upload_folder_exits_2_and_the_clip_posts_once(
    ws: Workspace, emulator: Emulator, args: tuple[str, ...]
) -> None:
    first = Daemon(ws)
    try:
        first.wait_event("daemon_started")
        ws.drop("early", seed=31)  # waiting in the queue when the second one starts
        second = Daemon(ws, args, {"STATE_DIR": str(ws.root / "elsewhere" / ".atroposd")})
        line = _refused_line(second)
        assert f"UPLOAD_FOLDER {ws.queue}" in line, line
        assert f"pid {first.proc.pid}" in line, line
        first.wait_event("OK")
        wait_for(lambda: (ws.posted / "early.txt").exists(), 30, "the clip archived")
        assert len(emulator.posts()) == 1
        assert not first.events("clip_problem"), first.events("clip_problem")
    finally:
        assert first.stop() == 0
    again = Daemon(ws, extra_env={"STATE_DIR": str(ws.root / "elsewhere" / ".atroposd")})
    try:  # the lock went with the first daemon: the file it leaves blocks nothing
        again.wait_event("daemon_started")
    finally:
        assert again.stop() == 0
    assert len(emulator.posts()) == 1


def test_a_second_daemon_sharing_only_out_root_exits_2(ws: Workspace) -> None:
    first = Daemon(ws)
    try:
        first.wait_event("daemon_started")
        other = {"STATE_DIR": str(ws.root / "state2"), "UPLOAD_FOLDER": str(ws.root / "queue2")}
        line = _refused_line(Daemon(ws, ("run",), other))
        assert f"OUT_ROOT {ws.out}" in line and f"pid {first.proc.pid}" in line, line
    finally:
        assert first.stop() == 0


@pytest.mark.skipif(not private_mounts(), reason="no user namespaces with mounts here")
def test_a_read_only_watched_folder_is_a_warning_not_a_refusal(ws: Workspace) -> None:
    run = Daemon(ws, wrap=tmpfs(ws.queue, "ro,size=1m"))
    try:
        run.wait_event("daemon_started")
        (warned,) = run.events("watch_folder_not_locked")
        assert warned["setting"] == "UPLOAD_FOLDER" and warned["folder"] == str(ws.queue)
        assert run.events("watch_folder_not_locked", setting="OUT_ROOT") == []
    finally:
        assert run.stop() == 0


def test_one_folder_named_twice_is_locked_once(tmp_path: Path) -> None:
    """OUT_ROOT equal to (or a link to) UPLOAD_FOLDER: one daemon must not refuse itself."""
    queue = tmp_path / "queue"
    queue.mkdir()
    (tmp_path / "link").symlink_to(queue)
    mine = FolderLocks([("UPLOAD_FOLDER", queue), ("OUT_ROOT", tmp_path / "link")])
    mine.acquire()
    try:
        assert (queue / FOLDER_LOCK).read_text() == str(os.getpid())
        other = FolderLocks([("OUT_ROOT", tmp_path / "link")])
        with pytest.raises(LockedError, match=f"OUT_ROOT {tmp_path / 'link'}: .*pid {os.getpid()}"):
            other.acquire()
    finally:
        mine.release()
    again = FolderLocks([("UPLOAD_FOLDER", queue)])
    again.acquire()  # released: free again
    again.release()
