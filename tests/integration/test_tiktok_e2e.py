"""The daemon posting to YouTube and TikTok: real watchdog, SQLite, ffmpeg, loopback HTTP to the
emulator, real ``kill -9`` in the middle of a multi-chunk TikTok upload and after its commit."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from atroposd.demo import make_clip
from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

CHUNK = 5 * 1024 * 1024  # UPLOAD_CHUNK_BYTES (256 KiB) rounded up to TikTok's smallest chunk


def publishes(emulator: Emulator) -> list[dict[str, Any]]:
    return list(emulator.http.get("/_emulator/tiktok/publishes").raise_for_status().json())


def drop_big(ws: Workspace, stem: str) -> tuple[Path, str]:
    """A ~11.6 MiB clip (two TikTok chunks) moved into the queue whole, hashed first."""
    staged = make_clip(ws.root / "staging" / f"{stem}.mp4", 5, 2.0, "360x640", "50M")
    assert staged.stat().st_size // CHUNK == 2
    digest = sha256(staged)
    (ws.root / "staging" / f"{stem}.txt").write_text(f"Big {stem} #tiktok\n", encoding="utf-8")
    os.replace(staged, ws.queue / staged.name)
    os.replace(staged.with_suffix(".txt"), ws.queue / f"{stem}.txt")
    return ws.queue / staged.name, digest


def test_two_pairs_post_to_youtube_and_tiktok_then_archive(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("youtube", "tiktok")
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(2):  # hashed before the daemon sees it: it may archive it at once
            held = ws.drop(f"clip{i}", seed=40 + i, folder=ws.root / "held")
            hashes[sha256(held)] = held.name
            os.replace(held.with_suffix(".txt"), ws.root / "held" / "caption.tmp")
            os.replace(held, ws.queue / held.name)
            os.replace(ws.root / "held" / "caption.tmp", ws.queue / f"clip{i}.txt")
        for platform in ("youtube", "tiktok"):
            daemon.wait_event("OK", count=2, platform=platform)
        posts = emulator.posts()
        for platform in ("youtube", "tiktok"):
            mine = [p for p in posts if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["clip0.mp4", "clip1.mp4"], platform
            assert len(daemon.events("OK", platform=platform)) == 2
        captions = {p["caption"] for p in posts if p["platform"] == "tiktok"}
        assert captions == {"Clip clip0\n\n#shorts #test", "Clip clip1\n\n#shorts #test"}
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
            daemon.wait_event("clip_archived", clip=name)  # logged just after the move
            lines = [ln.get("event") for ln in daemon.lines if ln.get("clip") == name]
            archived = lines.index("clip_archived")
            assert lines[:archived].count("OK") == 2, f"archived before both platforms: {lines}"
    finally:
        assert daemon.stop() == 0


def test_kill_9_mid_tiktok_upload_resumes_without_resending_a_held_chunk(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("tiktok")
    # The second chunk hangs: the daemon is killed while TikTok holds the first one.
    emulator.faults(
        {"platform": "tiktok", "step": "chunk", "nth": 2, "action": "delay", "seconds": 120}
    )
    first = Daemon(ws)
    try:
        _, digest = drop_big(ws, "big")
        emulator.wait_stored(CHUNK, exact=True, timeout=60)
    finally:
        first.kill9()
    assert emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()
    second = Daemon(ws)
    try:
        second.wait_event("OK", platform="tiktok")
        assert second.events("upload_done")[0]["resumed_from"] == CHUNK
        [post] = emulator.posts()
        assert post["sha256"] == digest
        [publish] = publishes(emulator)  # resumed, not started over
        assert publish["chunks_received"] == [0, 1], publish
        assert publish["chunks_resent"] == [], "a chunk TikTok held was sent again"
        assert len(first.events("PLAN")) == 1 and second.events("PLAN") == []
    finally:
        second.stop()


def test_kill_9_right_after_the_last_chunk_posts_once(ws: Workspace, emulator: Emulator) -> None:
    ws.use_platforms("tiktok")
    # The last chunk is stored (TikTok publishes) but its answer is held: kill the daemon then.
    emulator.faults(
        {"platform": "tiktok", "step": "chunk", "nth": 2, "action": "commit_then_hang", "hold": 60}
    )
    first = Daemon(ws)
    try:
        _, digest = drop_big(ws, "committed")
        wait_for(emulator.posts, 60, "the post made by the last chunk")
    finally:
        first.kill9()
    emulator.http.delete("/_emulator/faults").raise_for_status()
    second = Daemon(ws)
    try:
        second.wait_event("OK", platform="tiktok")
        [post] = emulator.posts()
        assert post["sha256"] == digest
        [publish] = publishes(emulator)
        assert publish["chunks_resent"] == [] and publish["completed"]
        # Nothing sent again: either TikTok already says published (recorded straight from its
        # status, no upload at all) or the resume found every byte held.
        resumed = [line["resumed_from"] for line in second.events("upload_done")]
        assert all(at == post["bytes"] for at in resumed), resumed
    finally:
        second.stop()


def test_two_accounts_post_to_tiktok_each_with_its_own_login(
    ws: Workspace, emulator: Emulator
) -> None:
    """Must-show 4 through the daemon: one clip per account, worked at once (TikTok's
    concurrency is 2); each post is made with, and only with, its own account's token."""
    ws.use_platforms("tiktok")
    config = json.loads(ws.config_path.read_text())
    config["accounts"]["client-b"] = {
        "display_name": "Client B",
        "platforms": {"tiktok": {"enabled": True, "privacy": "SELF_ONLY"}},
    }
    ws.config_path.write_text(json.dumps(config))
    ws.drop("mine", seed=81)
    ws.drop("theirs", seed=82, folder=ws.queue / "client-b")
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    by_account = {p["account"]: p for p in publishes(emulator)}
    assert set(by_account) == {"default", "client-b"}
    assert by_account["default"]["access_token"] != by_account["client-b"]["access_token"]
    assert by_account["client-b"]["post_info"]["privacy_level"] == "SELF_ONLY"
    assert by_account["default"]["post_info"]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    clips = {ln["clip"]: ln["account"] for ln in run.events("OK", platform="tiktok")}
    assert clips == {"mine.mp4": "default", "client-b/theirs.mp4": "client-b"}
    assert sorted(p["account"] for p in emulator.posts()) == ["client-b", "default"]
