"""The daemon keeps going through bad entries, archive failures, outages and odd ledgers."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3

import pytest

from tests.mounts import fill, private_mounts, seen_by, tmpfs
from tests.support import Daemon, Emulator, Workspace, wait_for


def test_symlink_loop_is_reported_and_the_daemon_keeps_working(
    ws: Workspace, emulator: Emulator
) -> None:
    os.symlink("loop.mp4", ws.queue / "loop.mp4")
    daemon = Daemon(ws)
    try:
        problem = daemon.wait_event("clip_problem")[0]
        assert problem["path"].endswith("loop.mp4") and "symlink" in problem["reason"]
        ws.drop("after", seed=100)
        daemon.wait_event("OK")
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def test_archive_failure_keeps_files_and_is_retried(ws: Workspace, emulator: Emulator) -> None:
    ws.posted.write_text("not a folder")  # e.g. the archive disk is not mounted
    daemon = Daemon(ws)
    try:
        video = ws.drop("kept", seed=101)
        daemon.wait_event("OK")
        daemon.wait_event("archive_failed")
        assert video.exists()
        ws.drop("next", seed=102)
        daemon.wait_event("OK", count=2)  # the daemon goes on posting
        ws.posted.unlink()  # the disk is back
        daemon.wait_event("clip_archived", count=2, timeout=30)
        assert (ws.posted / "kept.mp4").exists() and not video.exists()
    finally:
        assert daemon.stop() == 0
    again = Daemon(ws)  # and a restart is not a crash loop
    try:
        again.wait_event("daemon_started")
    finally:
        assert again.stop() == 0


def test_status_outage_after_upload_never_fails_the_post(ws: Workspace, emulator: Emulator) -> None:
    emulator.fault("list", times=4, code=503)
    daemon = Daemon(ws, extra_env={"MAX_ATTEMPTS": "2"})
    try:
        ws.drop("patient", seed=103)
        daemon.wait_event("OK", timeout=90)
        errs = daemon.events("ERR")
        assert len(errs) == 4 and all("checking again later" in e["next"] for e in errs)
        assert len(emulator.posts()) == 1
    finally:
        daemon.stop()


def _disable(ws: Workspace) -> None:
    path = ws.root / "upload_config.json"
    config = json.loads(path.read_text())
    config["accounts"]["default"]["platforms"]["youtube"]["enabled"] = False
    path.write_text(json.dumps(config))


def test_posts_of_a_disabled_platform_are_held_not_sent(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("held", seed=104)
    emulator.fault("create", code=503, seconds=30)
    first = Daemon(ws)
    first.wait_event("PLAN")
    wait_for(
        lambda: emulator.fired(),
        20,
        "the session request under way (its fault fired)",
    )
    first.kill9()  # the post is left mid-upload in the ledger
    emulator.http.delete("/_emulator/faults")
    _disable(ws)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 1
    assert run.events("posts_held", account="default", platform="youtube", posts=1)
    assert run.events("summary", platform="youtube", ready=1)
    assert emulator.posts() == [] and video.exists()
    path = ws.root / "upload_config.json"  # turned back on: the held post goes out
    config = json.loads(path.read_text())
    config["accounts"]["default"]["platforms"]["youtube"]["enabled"] = True
    path.write_text(json.dumps(config))
    again = Daemon(ws, ("upload", "--once"))
    assert again.wait() == 0
    assert len(emulator.posts()) == 1 and not video.exists()


def test_post_left_planned_by_a_crash_is_armed_by_the_sweep(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.drop("limbo", seed=105)
    emulator.fault("create", code=400)
    assert Daemon(ws, ("upload", "--once")).wait() == 1
    with sqlite3.connect(ws.state / "ledger.sqlite3") as db:  # as a crash before arming leaves it
        db.execute("UPDATE posts SET state = 'planned', retry_at = NULL, attempts = 0")
    daemon = Daemon(ws)
    try:
        daemon.wait_event("OK")
        assert len(emulator.posts()) == 1
    finally:
        daemon.stop()


def test_watched_folder_gone_does_not_stop_posting(ws: Workspace, emulator: Emulator) -> None:
    """An unmounted drive under UPLOAD_FOLDER must not take the publisher down with it."""
    drive = ws.root / "drive"
    queue = drive / "queue"
    # The post waits 10 s as the platform asks: longer than a rescan (RESCAN_SECONDS=5), by
    # which the watcher has met the missing folder (before supervision, the daemon exited).
    emulator.fault("create", code=429, headers={"Retry-After": "10"})
    daemon = Daemon(ws, extra_env={"UPLOAD_FOLDER": str(queue)})
    try:
        daemon.wait_event("daemon_started")
        ws.drop("first", seed=106, folder=ws.out / "default" / "project")
        daemon.wait_event("ERR")
        shutil.rmtree(drive)
        drive.write_text("the mount point is gone")  # the folder cannot be made again either
        daemon.wait_event("OK", clip="default/project/first.mp4", timeout=60)  # posting goes on
        assert daemon.proc.poll() is None
        drive.unlink()  # the drive is back: a clip dropped there is posted
        ws.drop("back", seed=107, folder=queue)
        daemon.wait_event("OK", clip="back.mp4", timeout=120)
        assert len(emulator.posts()) == 2
    finally:
        assert daemon.stop() == 0
    assert "Traceback" not in "".join(daemon.raw) + "".join(daemon.stderr)


@pytest.mark.skipif(not private_mounts(), reason="no user namespaces with mounts here")
def test_disk_full_under_state_dir_is_one_plain_line(ws: Workspace, emulator: Emulator) -> None:
    """STATE_DIR on a small disk that fills up: no traceback per pass, no crash, no duplicate."""
    ws.state.mkdir()  # the daemon sees a 2 MiB tmpfs of its own there
    env = {"RECONCILE_SECONDS": "1", "LOG_LEVEL": "debug"}
    daemon = Daemon(ws, extra_env=env, wrap=tmpfs(ws.state, "size=2m"))
    try:
        ws.drop("before", seed=108)
        daemon.wait_event("OK", clip="before.mp4")
        filler = seen_by(daemon.proc.pid, ws.state / "filler")
        fill(filler)
        since = len(daemon.lines)
        ws.drop("during", seed=109)
        (full,) = daemon.wait_event("disk_full", timeout=60)
        assert full["message"] == f"disk full: cannot write the ledger in {ws.state}"
        scans = len(daemon.events("watch_rescan_done"))  # a few passes while still full
        daemon.wait_event("watch_rescan_done", count=scans + 2, timeout=60)
        assert len(daemon.events("disk_full")) == 1
        assert not [ln for ln in daemon.lines[since:] if "exception" in ln], "a traceback"
        filler.unlink()  # room again: the clip that came meanwhile is posted, once
        daemon.wait_event("OK", clip="during.mp4", timeout=90)
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0
    assert sorted(p["title"] for p in emulator.posts()) == ["Clip before", "Clip during"]
    assert "Traceback" not in "".join(daemon.stderr)
