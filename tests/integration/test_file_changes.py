"""A clip replaced, rewritten or renamed while it waits is never posted wrong, nor lost."""

from __future__ import annotations

import json
import os

from tests.support import Daemon, Emulator, Workspace, make_clip, sha256, wait_for

CHUNK = 256 * 1024


def test_video_replaced_mid_upload_posts_only_the_new_version(
    ws: Workspace, emulator: Emulator
) -> None:
    old = ws.drop("edit", seed=90, seconds=4, bitrate="2M")
    emulator.faults(
        {"platform": "youtube", "step": "chunk", "nth": 2, "action": "delay", "seconds": 3}
    )
    daemon = Daemon(ws)
    try:
        wait_for(
            lambda: any(u["bytes_received"] >= CHUNK for u in emulator.uploads()),
            30,
            "the first chunk stored",
        )
        new = make_clip(ws.root / "staging" / "edit-v2.mp4", seconds=4, seed=91, bitrate="2M")
        new_sha = sha256(new)
        os.replace(new, old)  # re-exported under the same name while chunk 2 hangs
        ok = daemon.wait_event("OK")[0]
        err = daemon.wait_event("ERR")[0]
        # The old version's upload stops at its next chunk: the file changed (or, when the
        # new version was already posted and archived, is gone). It is never completed.
        assert "changed after it was planned" in err["error"] or "No such file" in err["error"]
        assert "needs attention" in err["next"]
        (post,) = emulator.posts()
        assert post["sha256"] == new_sha and ok["post_id"] != err["post_id"]
    finally:
        daemon.stop()


def test_clip_renamed_while_waiting_is_posted_under_its_new_name(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("draft", seed=92)
    digest = sha256(video)
    # The session request hangs 3 s and then fails with 503: the post waits for a retry.
    emulator.faults(
        {
            "platform": "youtube",
            "step": "create",
            "nth": 1,
            "action": "status",
            "code": 503,
            "seconds": 3,
        }
    )
    daemon = Daemon(ws)
    try:
        daemon.wait_event("PLAN")
        os.replace(ws.queue / "draft.txt", ws.queue / "final.txt")
        os.replace(video, ws.queue / "final.mp4")
        moved = daemon.wait_event("clip_moved")[0]
        assert moved["clip"] == "final.mp4" and moved["was"] == "draft.mp4"
        ok = daemon.wait_event("OK")[0]
        assert ok["clip"] == "final.mp4"
        (post,) = emulator.posts()
        assert post["sha256"] == digest
        wait_for(lambda: (ws.posted / "final.mp4").exists(), 10, "archived under the new name")
    finally:
        daemon.stop()


def test_clip_gone_then_back_is_rearmed(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("away", seed=93)
    data = video.read_bytes()
    emulator.faults(
        {
            "platform": "youtube",
            "step": "create",
            "nth": 1,
            "action": "status",
            "code": 503,
            "seconds": 2,
        }
    )
    daemon = Daemon(ws)
    try:
        daemon.wait_event("PLAN")
        aside = ws.root / "aside"
        aside.mkdir()
        os.replace(video, aside / "away.mp4")  # taken out of the queue while it waits
        err = daemon.wait_event("ERR", count=2)[-1]
        assert "gone" in err["error"] or "No such file" in err["error"]
        assert "needs attention" in err["next"]
        (aside / "copy.mp4").write_bytes(data)
        os.replace(aside / "copy.mp4", ws.queue / "away.mp4")  # and put back
        daemon.wait_event("OK")
        assert len(emulator.posts()) == 1
    finally:
        daemon.stop()


def test_new_version_of_a_waiting_clip_supersedes_the_old_plan(
    ws: Workspace, emulator: Emulator
) -> None:
    old = ws.drop("cut", seed=94)
    body = {
        "error": {
            "code": 403,
            "message": "quota",
            "errors": [{"reason": "quotaExceeded", "domain": "youtube.quota"}],
        }
    }
    emulator.faults(
        {
            "platform": "youtube",
            "step": "create",
            "nth": 1,
            "action": "status",
            "code": 403,
            "body": body,
        }
    )
    assert Daemon(ws, ("upload", "--once")).wait() == 1  # parked until the quota resets
    new = make_clip(ws.root / "staging" / "cut-v2.mp4", seed=95)
    new_sha = sha256(new)
    os.replace(new, old)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    assert run.events("post_superseded", post_id=1)
    (post,) = emulator.posts()
    assert post["sha256"] == new_sha
    listing = Daemon(ws, ("posts", "--json"))
    assert listing.wait() == 0
    states = {p["id"]: p["state"] for p in json.loads("".join(listing.raw))}
    assert states == {1: "cancelled", 2: "published"}
