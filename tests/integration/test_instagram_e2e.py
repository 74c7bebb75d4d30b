"""The daemon posts Reels to Instagram beside YouTube, end to end, and survives ``kill -9`` during a
multi-chunk rupload and right after ``media_publish`` was sent.

Real daemon process, real watchdog, real SQLite, real ffmpeg clips, real HTTP to the emulator.
Rupload chunks are 256 KiB here (``UPLOAD_CHUNK_BYTES`` of the workspace).
"""

from __future__ import annotations

import os

import httpx

from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

CHUNK = 256 * 1024


def limit(emulator: Emulator, total: int, duration: float) -> None:
    """Set the emulator's Instagram publishing cap."""
    body = {"quota_total": total, "quota_duration": duration}
    httpx.post(
        f"{emulator.url}/_emulator/instagram/publishing_limit", json=body, timeout=10
    ).raise_for_status()


def test_two_pairs_become_youtube_and_instagram_posts_archived_after_both(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("youtube", "instagram")
    limit(emulator, 0, 1.0)  # Instagram is at its cap: its posts wait, YouTube's go out
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(2):
            held = ws.drop(f"ig{i}", seed=60 + i, folder=ws.root / "held", bitrate="1M")
            hashes[sha256(held)] = held.name
            os.replace(held, ws.queue / held.name)
            os.replace(held.with_suffix(".txt"), ws.queue / f"ig{i}.txt")
        daemon.wait_event("OK", count=2, platform="youtube", timeout=90)
        capped = daemon.wait_event("ERR", count=2, platform="instagram", timeout=60)
        assert all("publishing limit" in line["error"] for line in capped), capped
        assert all(str(line["next"]).startswith("quota reached") for line in capped), capped
        assert all((ws.queue / name).exists() for name in hashes.values()), "archived too early"
        limit(emulator, 50, 86400)  # the window frees
        for platform in ("youtube", "instagram"):
            daemon.wait_event("OK", count=2, platform=platform, timeout=90)
            mine = [p for p in emulator.posts() if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["ig0.mp4", "ig1.mp4"]
            assert len(daemon.events("OK", platform=platform)) == 2
        ig_oks = daemon.events("OK", platform="instagram")
        assert all(ok["url"].startswith("https://www.instagram.com/reel/") for ok in ig_oks)
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
        assert not [p for p in emulator.posts() if p["platform"] not in ("youtube", "instagram")]
    finally:
        assert daemon.stop() == 0


def test_kill9_mid_rupload_then_right_after_media_publish_makes_one_post(
    ws: Workspace, emulator: Emulator
) -> None:
    """Killed while the upload host holds two of four chunks: the next process resumes at the
    host's offset. Killed again while ``media_publish``'s answer is held back (the Reel is
    made): the third process asks before anything else and posts nothing twice."""
    ws.use_platforms("instagram")
    video = ws.drop("big", seed=63, seconds=4, bitrate="2M")
    size, digest = video.stat().st_size, sha256(video)
    assert size > 3 * CHUNK
    emulator.faults(
        {"platform": "instagram", "step": "rupload", "nth": 3, "action": "delay", "seconds": 120}
    )
    first = Daemon(ws)
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    first.kill9()
    assert emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()
    emulator.faults(
        {"platform": "instagram", "step": "publish", "action": "commit_then_hang", "hold": 60}
    )
    second = Daemon(ws)
    wait_for(emulator.posts, 60, "the Reel published, its answer held back")
    [done] = second.wait_event("upload_done")
    assert done["resumed_from"] == 2 * CHUNK
    second.kill9()
    assert not second.events("OK")
    third = Daemon(ws)
    try:
        ok = third.wait_event("OK", platform="instagram", timeout=90)[0]
        [post] = emulator.posts()
        assert post["sha256"] == digest and post["bytes"] == size
        assert ok["remote_id"] == post["id"]
        assert not third.events("upload_done"), "the upload was sent again"
        assert len(first.events("PLAN")) == 1 and not second.events("PLAN")
    finally:
        third.stop()


def test_a_dead_instagram_login_parks_only_instagram(ws: Workspace, emulator: Emulator) -> None:
    ws.use_platforms("youtube", "instagram")
    emulator.control("revoke", {"platform": "instagram", "account": "default"})
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        video = ws.drop("dead", seed=65, bitrate="1M")
        daemon.wait_event("OK", platform="youtube", timeout=90)
        [err] = daemon.wait_event("ERR", platform="instagram", timeout=60)
        assert "log in" in str(err["next"]), err
        assert [p["platform"] for p in emulator.posts()] == ["youtube"]
        assert video.exists(), "archived while Instagram still waits for a login"
    finally:
        assert daemon.stop() == 0
