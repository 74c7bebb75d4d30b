"""The daemon posts to X beside YouTube, end to end, with either user context, and survives
``kill -9`` between segments and right after ``POST /2/tweets`` was sent.

Real daemon process, real watchdog, real SQLite, real ffmpeg clips, real HTTP to the
emulator. Segments are 256 KiB here (``UPLOAD_CHUNK_BYTES`` of the workspace), so a clip of a
few hundred KB takes several.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.captions import Counting, measure
from atroposd.domain import Post, PostState
from atroposd.pipeline.request import build_request
from atroposd.providers.x import XProvider
from atroposd.store.ledger import Drop
from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

SEGMENT = 256 * 1024
LONG = (  # ~400 weighted characters: CJK and emoji weigh 2, the URL 23; cut to fit 280
    "\n".join(f"東京の夜 {i}、屋台のラーメン 🍜🇯🇵" for i in range(12))
    + "\nhttps://example.com/full-video\n\n#shorts #tokyo #ramen\n"
)


def x_media(emulator: Emulator) -> list[dict[str, Any]]:
    """The emulator's X media: stored segments and how many APPENDs each index got."""
    return list(httpx.get(f"{emulator.url}/x/_emulator/media", timeout=10).json())


def built_text(caption: str, video: Path, options: dict[str, Any]) -> str:
    """What the daemon's pipeline builds from ``caption`` as X's post text."""
    now = datetime.now(UTC)
    post = Post(1, "0" * 64, "default", "x", PostState.READY, 0, None, None, None, None, None,
                None, 0, now, now)  # fmt: skip
    drop = Drop(video, video.with_suffix(".txt"), None, video.parent, video.name, caption, None)
    return build_request(post, drop, 1, XProvider.capabilities, options).description


@pytest.mark.parametrize("auth", ["oauth2", "oauth1"])
def test_two_pairs_become_youtube_and_x_posts_then_are_archived(
    ws: Workspace, emulator: Emulator, auth: str
) -> None:
    ws.use_platforms("youtube", "x", x={"auth": auth})
    captions = {"x0": "Clip x0\n\n#shorts #test\n", "x1": LONG}
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i, (stem, caption) in enumerate(captions.items()):
            held = ws.drop(
                stem, seed=40 + i, caption=caption, folder=ws.root / "held", bitrate="1M"
            )
            hashes[sha256(held)] = held.name
            os.replace(held.with_suffix(".txt"), ws.queue / f"{stem}.txt")
            os.replace(held, ws.queue / held.name)
        for platform in ("youtube", "x"):
            daemon.wait_event("OK", count=2, platform=platform, timeout=90)
            mine = [p for p in emulator.posts() if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["x0.mp4", "x1.mp4"]
            assert len(daemon.events("OK", platform=platform)) == 2
        texts = {p["caption"] for p in emulator.posts() if p["platform"] == "x"}
        options = {"enabled": True, "auth": auth, "max_weighted_length": 280, "user_id": None}
        expected = {built_text(c, ws.queue / f"{s}.mp4", options) for s, c in captions.items()}
        assert texts == expected
        assert all(measure(t, Counting.X_WEIGHTED) <= 280 for t in texts)
        assert any(len(t) < len(LONG.strip()) for t in texts), "the long caption was not cut"
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
    finally:
        assert daemon.stop() == 0


def test_kill9_between_segments_resumes_without_resending_a_confirmed_one(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("x")
    video = ws.drop("big", seed=43, seconds=4, bitrate="2M")
    size, digest = video.stat().st_size, sha256(video)
    assert size > 3 * SEGMENT
    # The second segment hangs: the daemon is killed while X confirmed only the first.
    emulator.faults(
        {"platform": "x", "step": "append", "nth": 2, "action": "delay", "seconds": 120}
    )
    first = Daemon(ws)
    wait_for(emulator.fired, 60, "the second segment on its way")
    first.kill9()
    [held] = x_media(emulator)
    assert held["segments"] == [SEGMENT] and emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()

    second = Daemon(ws)
    try:
        second.wait_event("OK", platform="x")
        assert second.events("upload_done")[0]["resumed_from"] == SEGMENT
        [post] = emulator.posts()
        assert post["sha256"] == digest and post["bytes"] == size
        [media] = x_media(emulator)
        assert media["received"]["0"] == 1, "the confirmed segment was sent again"
        assert media["posted"] and len(media["segments"]) == -(-size // SEGMENT)
    finally:
        second.stop()


def test_kill9_right_after_the_post_was_sent_makes_one_post(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("x")
    digest = sha256(ws.drop("commit", seed=44, bitrate="1M"))
    emulator.faults({"platform": "x", "step": "tweet", "action": "commit_then_hang", "hold": 60})
    first = Daemon(ws)
    wait_for(emulator.posts, 60, "the post made, its answer held back")
    first.kill9()
    second = Daemon(ws)
    try:
        ok = second.wait_event("OK", platform="x")[0]
        [post] = emulator.posts()
        assert post["sha256"] == digest and ok["remote_id"] == post["id"]
        [media] = x_media(emulator)
        assert set(media["received"].values()) == {1}, media
    finally:
        second.stop()


def test_a_long_post_account_posts_its_whole_text(ws: Workspace, emulator: Emulator) -> None:
    """An X Premium account (``max_weighted_length``) gets its caption whole, not cut at 280."""
    ws.use_platforms("x", x={"max_weighted_length": 1000})
    emulator.http.post(
        "/x/_emulator/long_posts", json={"account": "default", "limit": 1000}
    ).raise_for_status()
    ws.drop("premium", seed=45, caption=LONG, bitrate="1M")
    daemon = Daemon(ws)
    try:
        daemon.wait_event("OK", platform="x")
        [post] = emulator.posts()
        assert post["caption"] == LONG.strip()
        assert measure(post["caption"], Counting.X_WEIGHTED) > 280
    finally:
        daemon.stop()
