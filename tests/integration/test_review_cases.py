"""Cases found by review: held retries, dry-run on known clips, shared files, restored copies."""

from __future__ import annotations

import json
import os
import sqlite3

from tests.support import Daemon, Emulator, Workspace, make_clip, sha256, wait_for


def _set_youtube(ws: Workspace, enabled: bool) -> None:
    path = ws.root / "upload_config.json"
    config = json.loads(path.read_text())
    config["accounts"]["default"]["platforms"]["youtube"]["enabled"] = enabled
    path.write_text(json.dumps(config))


def test_once_returns_when_a_retrying_post_is_held(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("held", seed=110)
    emulator.fault("create", code=503, headers={"Retry-After": "2"}, times=5)
    daemon = Daemon(ws)
    daemon.wait_event("ERR")  # waiting to retry in 2 s
    assert daemon.stop() == 0
    _set_youtube(ws, False)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait(30) == 1  # held, reported, and the command ends (no spinning)
    assert run.events("posts_held", posts=1)


def test_dry_run_on_a_clip_the_ledger_knows(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("known", seed=111)
    emulator.fault("create", code=400)
    assert Daemon(ws, ("upload", "--once")).wait() == 1  # failed; the files stay
    ws.drop("fresh", seed=112)
    (ws.queue / "fresh.json").write_text(json.dumps({"platforms": ["youtube"]}))
    dry = Daemon(ws, ("upload", "--once", "--dry-run"))
    assert dry.wait() == 0, "".join(dry.stderr)
    assert [p["clip"] for p in dry.events("PLAN")] == ["fresh.mp4"]


def test_file_shared_through_a_link_waits_for_every_account(
    ws: Workspace, emulator: Emulator
) -> None:
    path = ws.root / "upload_config.json"
    config = json.loads(path.read_text())
    config["accounts"]["clientb"] = {"platforms": {"youtube": {"enabled": True}}}
    path.write_text(json.dumps(config))
    video = ws.drop("both", seed=113)
    (ws.queue / "clientb").mkdir()
    os.symlink(video, ws.queue / "clientb" / "both.mp4")
    (ws.queue / "clientb" / "both.txt").write_text("Both accounts\n")
    emulator.fault("create", nth=2, code=503)  # the second account's upload waits a little
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    assert sorted(p["account"] for p in emulator.posts()) == ["clientb", "default"]
    assert not run.events("ERR", code=None, platform="youtube", next="failed")


def test_same_bytes_restored_at_a_posted_path_are_archived(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("again", seed=114)
    data = video.read_bytes()
    assert Daemon(ws, ("upload", "--once")).wait() == 0
    assert (ws.posted / "again.mp4").exists() and not video.exists()
    (ws.root / "restore.tmp").write_bytes(data)  # restored from a backup, new inode and mtime
    os.replace(ws.root / "restore.tmp", video)
    (ws.queue / "again.txt").write_text("Clip again\n")
    daemon = Daemon(ws)
    try:
        wait_for(lambda: not video.exists(), 30, "the restored copy archived")
        daemon.wait_event("clip_archived", clip="again.mp4")  # logged just after the move
        assert len(emulator.posts()) == 1
    finally:
        daemon.stop()


def test_superseded_post_goes_on_from_a_copy_seen_earlier(
    ws: Workspace, emulator: Emulator
) -> None:
    a = ws.drop("a", seed=115)
    v1 = sha256(a)
    emulator.fault("create", code=503, seconds=4)  # v1 waits for a retry
    daemon = Daemon(ws)
    try:
        daemon.wait_event("PLAN")
        (ws.queue / "b.txt").write_text("Clip a, kept\n")
        (ws.root / "b.tmp").write_bytes(a.read_bytes())
        os.replace(ws.root / "b.tmp", ws.queue / "b.mp4")  # a copy beside the original
        daemon.wait_event("watch_clip_ready", clip="b.mp4")
        new = make_clip(ws.root / "staging" / "a2.mp4", seed=116)
        v2 = sha256(new)
        os.replace(new, a)  # then a new version at the old name
        daemon.wait_event("OK", count=2, timeout=60)
        assert sorted(p["sha256"] for p in emulator.posts()) == sorted([v1, v2])
    finally:
        daemon.stop()


def test_login_problem_is_not_rearmed_by_touching_the_file(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("login", seed=117)
    emulator.control("revoke", {"platform": "youtube", "account": "default"})
    assert Daemon(ws, ("upload", "--once")).wait() == 1
    os.utime(video)  # touching the file is no new login
    daemon = Daemon(ws)
    try:
        daemon.wait_event("watch_clip_ready", clip="login.mp4")
        daemon.wait_event("daemon_started")
        with sqlite3.connect(ws.state / "ledger.sqlite3") as db:
            ((state, attention),) = db.execute("SELECT state, attention FROM posts").fetchall()
        assert (state, attention) == ("needs_attention", "login")
        assert not daemon.events("post_rearmed")
    finally:
        daemon.stop()
