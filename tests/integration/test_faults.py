"""Platform faults end in exactly one post, or a clear failure that leaves the files alone."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support import Daemon, Emulator, Workspace, google_error, sha256, wait_for

GOOGLE_429 = {
    "error": {
        "code": 429,
        "message": "Rate limit exceeded.",
        "errors": [{"reason": "rateLimitExceeded", "domain": "global"}],
    }
}
GOOGLE_401 = {
    "error": {
        "code": 401,
        "status": "UNAUTHENTICATED",
        "message": "Request had invalid authentication credentials.",
        "errors": [{"reason": "authError", "domain": "global"}],
    }
}
GOOGLE_503 = {
    "error": {
        "code": 503,
        "message": "Backend Error",
        "errors": [{"reason": "backendError", "domain": "global"}],
    }
}

CASES: dict[str, dict[str, Any]] = {
    "503_on_chunk": {
        "step": "chunk",
        "nth": 2,
        "action": "status",
        "code": 503,
        "body": GOOGLE_503,
    },
    "drop_after_chunk_stored": {"step": "chunk", "nth": 2, "action": "commit_then_drop"},
    # nth = -1: the video's last chunk, computed from its size below.
    "drop_after_final_chunk_stored": {"step": "chunk", "nth": -1, "action": "commit_then_drop"},
    "429_with_retry_after": {
        "step": "chunk",
        "nth": 2,
        "action": "status",
        "code": 429,
        "body": GOOGLE_429,
        "headers": {"Retry-After": "1"},
    },
    "expired_token_mid_upload": {
        "step": "chunk",
        "nth": 3,
        "action": "status",
        "code": 401,
        "body": GOOGLE_401,
    },
    "dropped_session_create": {"step": "create", "nth": 1, "action": "drop"},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fault_ends_in_exactly_one_post(ws: Workspace, emulator: Emulator, case: str) -> None:
    video = ws.drop("faulty", seed=11, seconds=4, bitrate="2M")  # ~4 chunks of 256 KiB
    assert video.stat().st_size > 3 * 256 * 1024
    rule = dict(CASES[case])
    if rule["nth"] == -1:
        rule["nth"] = -(-video.stat().st_size // (256 * 1024))
    emulator.faults({"platform": "youtube", **rule})
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.stderr) + "".join(run.raw[-20:])
    posts = emulator.posts()
    assert len(posts) == 1
    assert posts[0]["sha256"] == sha256(ws.posted / "faulty.mp4")
    assert len(run.events("OK", platform="youtube")) == 1
    assert emulator.fired()  # the fault did fire


def test_429_waits_for_the_platforms_retry_after(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("throttled", seed=12, seconds=2)
    emulator.faults(
        {
            "platform": "youtube",
            **CASES["429_with_retry_after"],
            "headers": {"Retry-After": "2"},
            "nth": 1,
        }
    )
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0
    err = run.events("ERR", platform="youtube")
    assert len(err) == 1 and err[0]["next"].startswith("retry 2 in 2.0s"), err
    assert len(emulator.posts()) == 1


def test_permanent_rejection_fails_with_reason_and_keeps_files(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("rejected", seed=13)
    body = {
        "error": {
            "code": 400,
            "message": "The request metadata specifies an invalid title.",
            "errors": [{"reason": "invalidTitle", "domain": "youtube.video"}],
        }
    }
    emulator.fault("create", code=400, body=body)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 1
    err = run.events("ERR", platform="youtube")
    assert len(err) == 1
    assert err[0]["code"] == "invalidTitle"
    assert err[0]["platform_message"] == "The request metadata specifies an invalid title."
    assert err[0]["clip"] == "rejected.mp4" and "not retried" in err[0]["next"]
    assert video.exists() and video.with_suffix(".txt").exists()
    assert emulator.posts() == []
    listing = Daemon(ws, ("posts", "--json"))
    assert listing.wait() == 0
    assert '"state": "failed"' in "".join(listing.raw)


def test_expired_tokens_between_clips_are_refreshed(ws: Workspace, emulator: Emulator) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        ws.drop("first", seed=14)
        daemon.wait_event("OK")
        emulator.control("expire_tokens", {"platform": "youtube"})
        ws.drop("second", seed=15)
        daemon.wait_event("OK", count=2)
        assert len(emulator.posts()) == 2
        assert daemon.events("ERR") == []
    finally:
        daemon.stop()


def test_revoked_login_parks_post_in_needs_attention(ws: Workspace, emulator: Emulator) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        ws.drop("before", seed=16)
        daemon.wait_event("OK")
        emulator.control("revoke", {"platform": "youtube", "account": "default"})
        emulator.control("expire_tokens", {"platform": "youtube"})
        video = ws.drop("after", seed=17)
        err = daemon.wait_event("ERR")[0]
        assert err["code"] == "invalid_grant" and "log in to YouTube again" in err["error"]
        assert "needs attention" in err["next"]
        assert video.exists()
        wait_for(lambda: daemon.proc.poll() is None, 1, "daemon alive")
    finally:
        daemon.stop()


def test_quota_exhausted_parks_the_post_until_the_reset(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("quota", seed=18)
    body = google_error(
        403,
        "quotaExceeded",
        "The request cannot be completed because you have exceeded your quota.",
        "youtube.quota",
    )
    emulator.fault("create", code=403, body=body)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 1  # not published in this run, and nothing failed for good
    err = run.events("ERR", platform="youtube")
    assert len(err) == 1 and err[0]["code"] == "quotaExceeded"
    assert "parked until" in err[0]["next"]
    assert run.events("summary", platform="youtube", ready=1)
    listing = Daemon(ws, ("posts", "--json"))
    assert listing.wait() == 0
    (post,) = json.loads("".join(listing.raw))
    assert post["state"] == "ready" and post["attempts"] == 0
    reset = datetime.fromisoformat(post["retry_at"]).astimezone(ZoneInfo("America/Los_Angeles"))
    assert (reset.hour, reset.minute) == (0, 0)
    assert video.exists() and emulator.posts() == []


def test_long_caption_fits_youtube_limits(ws: Workspace, emulator: Emulator) -> None:
    first_line = "A <very> long opening line about the best moment " * 6
    caption = first_line + "\n\n" + "é" * 6000 + "\n\n#shorts #long"
    ws.drop("long", seed=19, caption=caption)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-5:])
    (post,) = emulator.posts()
    assert len(post["title"]) <= 100 and "<" not in post["title"] and ">" not in post["title"]
    assert post["title"].startswith("A very long opening line")
    assert len(post["caption"].encode("utf-8")) <= 5000
    assert post["caption"].endswith("#shorts #long")
