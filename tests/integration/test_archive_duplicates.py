"""The same video under two names is posted once, and both copies are archived: the second
copy with the clip once it is published, and again later when its own move failed."""

from __future__ import annotations

import os
import shutil

from tests.support import Daemon, Emulator, Workspace, iter_files, wait_for


def test_same_video_dropped_under_two_names_at_once_is_posted_once_and_both_archived(
    ws: Workspace, emulator: Emulator
) -> None:
    held = ws.drop("twin-a", seed=21, folder=ws.root / "held")
    shutil.copy(held, held.with_name("twin-b.mp4"))
    (held.parent / "twin-b.txt").write_text("The same clip, another name\n")
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        for name in ("twin-a.mp4", "twin-b.mp4", "twin-a.txt", "twin-b.txt"):  # both at once
            os.replace(held.parent / name, ws.queue / name)
        daemon.wait_event("OK")
        names = {"twin-a.mp4", "twin-a.txt", "twin-b.mp4", "twin-b.txt"}
        wait_for(
            lambda: {p.name for p in iter_files(ws.posted)} == names,
            30,
            "both copies archived",
        )
        assert list(iter_files(ws.queue)) == []
        assert len(emulator.posts()) == 1
        assert len(daemon.events("PLAN")) == 1
        dup = daemon.events("duplicate_clip")
        assert len(dup) == 1 and {dup[0]["clip"], dup[0]["same_as"]} == {"twin-a.mp4", "twin-b.mp4"}
        assert daemon.events("clip_archived", clip=dup[0]["clip"], duplicate=True)
    finally:
        assert daemon.stop() == 0


def test_duplicate_whose_archive_move_failed_is_moved_at_a_later_sweep(
    ws: Workspace, emulator: Emulator
) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        first = ws.drop("original", seed=22)
        data = first.read_bytes()
        daemon.wait_event("OK")
        wait_for(lambda: (ws.posted / "original.txt").exists(), 30, "the clip archived")
        away = ws.root / "posted-away"
        ws.posted.rename(away)
        ws.posted.write_text("not a folder: the archive disk is not mounted")
        copy_tmp = ws.root / "again.mp4.tmp"
        copy_tmp.write_bytes(data)
        (ws.queue / "again.txt").write_text("Same clip, new name\n")
        os.replace(copy_tmp, ws.queue / "again.mp4")
        daemon.wait_event("duplicate_clip", clip="again.mp4")
        daemon.wait_event("archive_failed", clip="again.mp4")
        assert (ws.queue / "again.mp4").exists() and (ws.queue / "again.txt").exists()
        ws.posted.unlink()  # the disk is back
        away.rename(ws.posted)
        daemon.wait_event("clip_archived", clip="again.mp4", timeout=30)
        assert (ws.posted / "again.mp4").read_bytes() == data
        assert (ws.posted / "again.txt").exists() and list(iter_files(ws.queue)) == []
        assert len(emulator.posts()) == 1
    finally:
        assert daemon.stop() == 0
