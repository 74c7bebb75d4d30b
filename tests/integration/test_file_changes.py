"""A clip replaced, rewritten or renamed while it waits is never posted wrong, nor lost."""

from __future__ import annotations

import json
import os

from tests.support import Daemon, Emulator, Workspace, google_error, make_clip, sha256, wait_for

CHUNK = 256 * 1024


def test_video_replaced_mid_upload_posts_only_the_new_version(
    ws: Workspace, emulator: Emulator
) -> None:
    old = ws.drop("edit", seed=90, seconds=4, bitrate="2M")
    emulator.fault("chunk", nth=2, action="delay", seconds=3)
    daemon = Daemon(ws)
    try:
        emulator.wait_stored(CHUNK, timeout=30)
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
    emulator.fault("create", code=503, seconds=3)
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
    emulator.fault("create", code=503, times=1000)  # no upload can start until cleared
    daemon = Daemon(ws)
    try:
        daemon.wait_event("ERR")  # the first attempt failed: the post waits for its retry
        aside = ws.root / "aside"
        aside.mkdir()
        os.replace(video, aside / "away.mp4")  # taken out of the queue while it waits

        def gone() -> list[dict[str, object]]:
            return [
                e
                for e in daemon.events("ERR")
                if "gone" in str(e["error"]) or "No such file" in str(e["error"])
            ]

        err = wait_for(gone, 60, "the clip reported gone")[-1]
        assert "needs attention" in str(err["next"])
        emulator.http.delete("/_emulator/faults").raise_for_status()
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
    body = google_error(403, "quotaExceeded", "quota", "youtube.quota")
    emulator.fault("create", code=403, body=body)
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
    assert states == {1: "needs_attention", 2: "published"}


def _hang_chunk(emulator: Emulator, nth: int, seconds: float) -> None:
    emulator.fault("chunk", nth=nth, action="delay", seconds=seconds)


def test_touch_during_upload_still_posts_once(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("touched", seed=96, seconds=4, bitrate="2M")
    digest = sha256(video)
    _hang_chunk(emulator, 2, 3)
    daemon = Daemon(ws)
    try:
        emulator.wait_stored(CHUNK, timeout=30)
        os.utime(video)  # e.g. a sync tool or an editor touching the file
        daemon.wait_event("OK")
        (post,) = emulator.posts()
        assert post["sha256"] == digest
        assert not daemon.events("clip_moved")  # same place: not reported as a move
    finally:
        daemon.stop()


def test_rename_during_upload_still_posts_once(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("first-name", seed=97, seconds=4, bitrate="2M")
    digest = sha256(video)
    _hang_chunk(emulator, 2, 3)
    daemon = Daemon(ws)
    try:
        emulator.wait_stored(CHUNK, timeout=30)
        os.replace(ws.queue / "first-name.txt", ws.queue / "second-name.txt")
        os.replace(video, ws.queue / "second-name.mp4")
        ok = daemon.wait_event("OK")[0]
        assert ok["clip"] == "second-name.mp4"
        (post,) = emulator.posts()
        assert post["sha256"] == digest
        wait_for(lambda: (ws.posted / "second-name.mp4").exists(), 10, "archived")
    finally:
        daemon.stop()


def test_posting_the_old_version_never_archives_the_new_one(
    ws: Workspace, emulator: Emulator
) -> None:
    old = ws.drop("cut", seed=98)
    v1 = sha256(old)
    # v1 is uploaded but its status cannot be read for a while: it waits in processing.
    emulator.fault("list", times=3, code=503)
    daemon = Daemon(ws)
    try:
        daemon.wait_event("upload_done")
        new = make_clip(ws.root / "staging" / "cut-v2.mp4", seed=99)
        v2 = sha256(new)
        os.replace(new, old)  # re-exported while v1 is still processing
        daemon.wait_event("OK", count=2, timeout=60)
        assert sorted(p["sha256"] for p in emulator.posts()) == sorted([v1, v2])
        wait_for(lambda: (ws.posted / "cut.mp4").exists(), 10, "v2 archived")
        assert sha256(ws.posted / "cut.mp4") == v2
        for err in daemon.events("ERR"):  # only the scripted status outage, nothing else
            assert err["next"] == "uploaded; status check failed, checking again later", err
    finally:
        daemon.stop()


def test_old_version_kept_under_a_new_name_is_still_posted(
    ws: Workspace, emulator: Emulator
) -> None:
    old = ws.drop("cut", seed=100)
    v1 = sha256(old)
    emulator.fault("create", code=503, seconds=30)
    first = Daemon(ws)
    first.wait_event("PLAN")
    wait_for(lambda: emulator.fired(), 20, "upload under way")
    first.kill9()
    emulator.http.delete("/_emulator/faults")
    # While the daemon is down: keep v1 as cut_v1, export v2 as cut.
    os.replace(ws.queue / "cut.txt", ws.queue / "cut_v1.txt")
    os.replace(old, ws.queue / "cut_v1.mp4")
    new = ws.drop("cut", seed=101)
    v2 = sha256(new)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    assert sorted(p["sha256"] for p in emulator.posts()) == sorted([v1, v2])
    assert (ws.posted / "cut_v1.mp4").exists() and (ws.posted / "cut.mp4").exists()
