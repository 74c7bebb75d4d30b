"""``kill -9`` in the middle of a multi-chunk upload, then a restart: resume, one post."""

from __future__ import annotations

from tests.support import Daemon, Emulator, Workspace, sha256

CHUNK = 256 * 1024


def test_kill9_mid_upload_resumes_from_emulator_offset(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("big", seed=21, seconds=6, bitrate="3M")
    size = video.stat().st_size
    assert size > 5 * CHUNK
    digest = sha256(video)
    # The third chunk hangs: the daemon is killed while two chunks are stored.
    emulator.fault("chunk", nth=3, action="delay", seconds=120)
    first = Daemon(ws)
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    first.kill9()
    assert emulator.posts() == []
    emulator.http.delete("/_emulator/faults").raise_for_status()

    second = Daemon(ws)
    try:
        ok = second.wait_event("OK", platform="youtube")[0]
        done = second.events("upload_done")[0]
        assert done["resumed_from"] == 2 * CHUNK
        assert second.events("upload_resumed", post_id=ok["post_id"])
        posts = emulator.posts()
        assert len(posts) == 1
        assert posts[0]["sha256"] == digest and posts[0]["bytes"] == size
        assert len(second.events("PLAN")) == 0  # planned once, by the first process
        assert len(first.events("PLAN")) == 1
        # The time from the first byte, across the crash: the ledger remembers when it began.
        assert isinstance(ok["seconds"], float) and ok["seconds"] > 0, ok
    finally:
        second.stop()


def test_sigterm_mid_upload_stops_cleanly_and_resumes(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("term", seed=22, seconds=6, bitrate="3M")
    digest = sha256(video)
    emulator.fault("chunk", nth=3, action="delay", seconds=120)
    first = Daemon(ws)
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    assert first.stop(timeout=15) == 0  # SIGTERM: no waiting for the hung chunk
    assert first.events("daemon_stopped")
    assert video.exists() and emulator.posts() == []
    second = Daemon(ws)
    try:
        second.wait_event("OK")
        assert second.events("upload_done")[0]["resumed_from"] == 2 * CHUNK
        (post,) = emulator.posts()
        assert post["sha256"] == digest
    finally:
        second.stop()
