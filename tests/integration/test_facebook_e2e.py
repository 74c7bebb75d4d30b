"""The daemon posts Reels to a Facebook Page beside YouTube, end to end, and survives ``kill -9``
during a multi-chunk rupload and right after ``upload_phase=finish`` was sent.

Real daemon process, real watchdog, real SQLite, real ffmpeg clips, real HTTP to the emulator.
Rupload chunks are 256 KiB here (``UPLOAD_CHUNK_BYTES`` of the workspace).
"""

from __future__ import annotations

import os

from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

CHUNK = 256 * 1024


def test_two_pairs_become_youtube_and_facebook_posts_archived_after_both(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("youtube", "facebook")
    # Facebook's answers to finish come 4 s late: YouTube's posts are done first.
    emulator.faults(
        {
            "platform": "facebook",
            "step": "finish",
            "action": "commit_then_delay",
            "hold": 4.0,
            "times": 2,
        }
    )
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(2):
            held = ws.drop(f"fb{i}", seed=70 + i, folder=ws.root / "held", bitrate="1M")
            hashes[sha256(held)] = held.name
            os.replace(held, ws.queue / held.name)
            os.replace(held.with_suffix(".txt"), ws.queue / f"fb{i}.txt")
        daemon.wait_event("OK", count=2, platform="youtube", timeout=90)
        if not daemon.events("OK", platform="facebook"):
            assert all((ws.queue / n).exists() for n in hashes.values()), "archived too early"
        for platform in ("youtube", "facebook"):
            daemon.wait_event("OK", count=2, platform=platform, timeout=90)
            mine = [p for p in emulator.posts() if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["fb0.mp4", "fb1.mp4"]
            assert len(daemon.events("OK", platform=platform)) == 2
        oks = daemon.events("OK", platform="facebook")
        assert all(ok["url"].startswith("https://www.facebook.com/reel/") for ok in oks), oks
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
            # Whichever platform finished last, the clip was archived after both OKs (the
            # log's order, not the machine's speed, decides).
            order = [
                (ln.get("event"), ln.get("platform"))
                for ln in daemon.lines
                if ln.get("clip") == name
            ]
            archived = order.index(("clip_archived", None))
            assert {("OK", "youtube"), ("OK", "facebook")} <= set(order[:archived]), order
        assert not [p for p in emulator.posts() if p["platform"] not in ("youtube", "facebook")]
    finally:
        assert daemon.stop() == 0


def test_kill9_mid_rupload_and_again_right_after_finish_makes_one_post(
    ws: Workspace, emulator: Emulator
) -> None:
    """One clip, killed twice: during its multi-chunk rupload (the next daemon resumes at the
    bytes Facebook holds), then right after ``finish`` was sent and taken (the next daemon asks
    Facebook and never sends it again). One daemon start fewer than two separate clips."""
    ws.use_platforms("facebook")
    video = ws.drop("big", seed=73, seconds=4, bitrate="2M")
    size, digest = video.stat().st_size, sha256(video)
    assert size > 3 * CHUNK
    # The third chunk hangs: the daemon is killed while the host holds two.
    emulator.faults(
        {"platform": "facebook", "step": "rupload", "nth": 3, "action": "delay", "seconds": 120}
    )
    first = Daemon(ws)
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    first.kill9()
    assert emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()

    # Facebook takes the finish (the reel is posted) and its answer never comes.
    emulator.faults(
        {"platform": "facebook", "step": "finish", "action": "commit_then_hang", "hold": 60}
    )
    second = Daemon(ws)
    wait_for(emulator.posts, 60, "the reel published, the answer to finish held back")
    second.kill9()
    assert second.events("upload_done")[0]["resumed_from"] == 2 * CHUNK

    third = Daemon(ws)
    try:
        ok = third.wait_event("OK", platform="facebook", timeout=90)[0]
        [post] = emulator.posts()
        assert post["sha256"] == digest and post["bytes"] == size
        assert ok["remote_id"] == post["id"]
        assert ok["url"] == f"https://www.facebook.com/reel/{post['id']}"
        assert len(first.events("PLAN")) == 1 and not second.events("PLAN")
        assert not third.events("PLAN") and not third.events("publish_sent"), "finish resent"
    finally:
        third.stop()
