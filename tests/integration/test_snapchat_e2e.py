"""The daemon posts to Snapchat beside YouTube, end to end, and survives ``kill -9``.

Real daemon process, real watchdog, real SQLite, real ffmpeg clips, real HTTP to the
emulator, which decrypts what it gets: a post's ``sha256`` is that of the decrypted bytes.
Parts are 256 KiB here (``SNAPCHAT_PART_BYTES``) so a few-MB clip takes several.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

PART = 256 * 1024
SNAP = {"SNAPCHAT_PART_BYTES": str(PART)}


def snap_media(emulator: Emulator) -> list[dict[str, Any]]:
    """The emulator's Snapchat media: parts held and how often each part was stored."""
    return list(httpx.get(f"{emulator.url}/snapchat/_emulator/media", timeout=10).json())


def test_two_pairs_become_youtube_and_snapchat_posts_then_are_archived(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("youtube", "snapchat")
    daemon = Daemon(ws, extra_env=SNAP)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(2):  # hashed before the daemon sees it: it may archive it at once
            held = ws.drop(f"snap{i}", seed=30 + i, folder=ws.root / "held", bitrate="2M")
            hashes[sha256(held)] = held.name
            os.replace(held, ws.queue / held.name)
            os.replace(held.with_suffix(".txt"), ws.queue / f"snap{i}.txt")
        for platform in ("youtube", "snapchat"):
            daemon.wait_event("OK", count=2, platform=platform)
            mine = [p for p in emulator.posts() if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["snap0.mp4", "snap1.mp4"]
            assert len(daemon.events("OK", platform=platform)) == 2
        snaps = [p for p in emulator.posts() if p["platform"] == "snapchat"]
        assert {p["caption"] for p in snaps} == {
            "Clip snap0\n\n#shorts #test",
            "Clip snap1\n\n#shorts #test",
        }
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
            assert not any((ws.queue / n).exists() for n in pair)
    finally:
        assert daemon.stop() == 0


def test_kill9_mid_multipart_upload_resumes_without_resending_a_held_part(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("snapchat")
    video = ws.drop("big", seed=33, seconds=4, bitrate="3M")
    size, digest = video.stat().st_size, sha256(video)
    assert size > 4 * PART
    # The third part hangs: the daemon is killed while Snap holds (and acknowledged) two.
    emulator.faults(
        {"platform": "snapchat", "step": "add", "nth": 3, "action": "delay", "seconds": 120}
    )
    first = Daemon(ws, extra_env=SNAP)
    wait_for(emulator.fired, 60, "the third part on its way")
    first.kill9()
    [held] = snap_media(emulator)
    assert held["parts"] == {"1": PART, "2": PART} and emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()

    second = Daemon(ws, extra_env=SNAP)
    try:
        second.wait_event("OK", platform="snapchat")
        assert second.events("upload_done")[0]["resumed_from"] == 2 * PART
        [post] = emulator.posts()
        assert post["sha256"] == digest and post["bytes"] == size
        [media] = snap_media(emulator)
        assert set(media["stores"].values()) == {1}, media  # no part stored twice
        assert len(media["parts"]) == -(-(size // 16 + 1) * 16 // PART)
    finally:
        second.stop()


def test_kill9_right_after_the_spotlight_post_makes_one_post(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("snapchat")
    digest = sha256(ws.drop("commit", seed=34, bitrate="1M"))
    emulator.faults(
        {"platform": "snapchat", "step": "publish", "action": "commit_then_hang", "hold": 60}
    )
    first = Daemon(ws, extra_env=SNAP)
    wait_for(emulator.posts, 60, "the Spotlight made, its answer held back")
    first.kill9()
    second = Daemon(ws, extra_env=SNAP)
    try:
        ok = second.wait_event("OK", platform="snapchat")[0]
        [post] = emulator.posts()
        assert post["sha256"] == digest and ok["remote_id"] == post["id"]
    finally:
        second.stop()
