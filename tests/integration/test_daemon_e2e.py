"""The daemon end to end: real watchdog, real SQLite, real HTTP to the emulator, real ffmpeg."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, make_clip, sha256, wait_for


def test_three_pairs_become_three_posts_logged_and_archived(
    ws: Workspace, emulator: Emulator
) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(3):  # hashed before the daemon sees it: it may archive it at once
            held = ws.drop(f"clip{i}", seed=i, folder=ws.root / "held")
            hashes[sha256(held)] = held.name
            os.replace(held, ws.queue / held.name)
            os.replace(held.with_suffix(".txt"), ws.queue / f"clip{i}.txt")
        oks = daemon.wait_event("OK", count=3, platform="youtube")
        posts = emulator.posts()
        assert sorted(p["sha256"] for p in posts) == sorted(hashes)
        assert {p["platform"] for p in posts} == {"youtube"}
        assert {p["title"] for p in posts} == {"Clip clip0", "Clip clip1", "Clip clip2"}
        plans = daemon.events("PLAN", platform="youtube")
        assert sorted(p["clip"] for p in plans) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
        for ok in oks:
            assert ok["remote_id"] and ok["url"] and ok["bytes"] > 0 and ok["post_id"]
            assert ok["account"] == "default"
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(
                lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair} archived"
            )
            assert not any((ws.queue / n).exists() for n in pair)
    finally:
        assert daemon.stop() == 0


def test_slowly_written_video_is_uploaded_once_and_whole(
    ws: Workspace, emulator: Emulator, tmp_path: Path
) -> None:
    source = make_clip(tmp_path / "src.mp4", seconds=3, seed=7, bitrate="1M")
    data = source.read_bytes()
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        (ws.queue / "slow.txt").write_text("A slow copy\n")
        target = ws.queue / "slow.mp4"
        pieces = 6
        step = len(data) // pieces + 1
        written = threading.Event()

        def writer() -> None:  # a copy that stalls between pieces, like a slow network share
            with target.open("wb") as handle:
                for i in range(pieces):
                    handle.write(data[i * step : (i + 1) * step])
                    handle.flush()
                    written.wait(0.6)  # pace the writer (not a test wait)
            written.set()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(30)
        daemon.wait_event("OK", platform="youtube")
        posts = emulator.posts()
        assert len(posts) == 1
        assert posts[0]["bytes"] == len(data)
        assert posts[0]["sha256"] == sha256(source)
        assert len(daemon.events("PLAN")) == 1
    finally:
        daemon.stop()


def test_same_video_under_another_name_is_not_posted_twice(
    ws: Workspace, emulator: Emulator
) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        held = ws.drop("original", seed=3, folder=ws.root / "held")
        data = held.read_bytes()  # read before the daemon can see (and archive) it
        os.replace(held, ws.queue / "original.mp4")
        os.replace(held.with_suffix(".txt"), ws.queue / "original.txt")
        daemon.wait_event("OK")
        wait_for(lambda: (ws.posted / "original.mp4").exists(), 30, "archive")
        copy_tmp = ws.root / "again.mp4.tmp"
        copy_tmp.write_bytes(data)
        (ws.queue / "renamed copy.txt").write_text("Same clip, new name\n")
        os.replace(copy_tmp, ws.queue / "renamed copy.mp4")
        daemon.wait_event("duplicate_clip")
        assert len(emulator.posts()) == 1
        assert len(daemon.events("PLAN")) == 1
    finally:
        daemon.stop()
