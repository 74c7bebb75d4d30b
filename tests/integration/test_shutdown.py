"""SIGTERM with an upload in flight: STOPPING=1, the upload gets SHUTDOWN_GRACE_SECONDS to finish
its step, the rest is cut (its saved session resumes at the next start), one summary line,
exit 0; a second signal stops at once. After a restart the clip is posted exactly once."""

from __future__ import annotations

import signal

from tests.support import Daemon, Emulator, Workspace, sha256
from tests.systemd.listener import NotifyListener

CHUNK = 256 * 1024  # the Workspace's UPLOAD_CHUNK_BYTES


def _restart_posts_once(ws: Workspace, emulator: Emulator, digest: str) -> Daemon:
    again = Daemon(ws)
    try:
        again.wait_event("OK", platform="youtube")
        (post,) = emulator.posts()
        assert post["sha256"] == digest
        assert len(again.events("PLAN")) == 0  # planned once, by the first process
    finally:
        assert again.stop() == 0
    return again


def test_sigterm_during_a_large_upload_stops_within_the_grace_and_resumes_once(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("large", seed=41, seconds=6, bitrate="3M")
    assert video.stat().st_size > 5 * CHUNK
    emulator.fault("chunk", nth=3, action="delay", seconds=120)  # hangs past any grace
    listener = NotifyListener()
    first = Daemon(ws, extra_env={**listener.env, "SHUTDOWN_GRACE_SECONDS": "2"})
    try:
        emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
        first.proc.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        listener.close()
    assert listener.with_key("STOPPING", "1")
    (summary,) = first.events("daemon_stopped")
    (upload,) = first.events("PLAN")
    assert summary["cancelled"] == [upload["post_id"]] and summary["finished"] == []
    assert summary["resume_at_start"] is True
    assert 2.0 <= summary["seconds"] < 2.0 + 1.5  # waited the grace, then cut
    assert emulator.posts() == [] and video.exists()
    emulator.http.delete("/_emulator/faults").raise_for_status()
    again = _restart_posts_once(ws, emulator, sha256(video))
    assert again.events("upload_done")[0]["resumed_from"] == 2 * CHUNK


def test_an_upload_that_finishes_within_the_grace_is_not_cut(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("short", seed=42, seconds=6, bitrate="3M")
    emulator.fault("chunk", nth=3, action="delay", seconds=3)  # slow, but within the grace
    first = Daemon(ws, extra_env={"SHUTDOWN_GRACE_SECONDS": "60"})
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    first.proc.send_signal(signal.SIGTERM)
    assert first.wait(timeout=90) == 0
    (summary,) = first.events("daemon_stopped")
    (plan,) = first.events("PLAN")
    assert summary["finished"] == [plan["post_id"]] and summary["cancelled"] == []
    (done,) = first.events("upload_done")  # every byte went before the exit
    assert done["bytes"] == video.stat().st_size
    again = _restart_posts_once(ws, emulator, sha256(video))
    assert again.events("upload_done") == []  # nothing sent twice


def test_a_second_signal_stops_at_once(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("stuck", seed=43, seconds=6, bitrate="3M")
    emulator.fault("chunk", nth=3, action="delay", seconds=120)
    first = Daemon(ws, extra_env={"SHUTDOWN_GRACE_SECONDS": "600"})
    emulator.wait_stored(2 * CHUNK, exact=True, timeout=60)
    first.proc.send_signal(signal.SIGTERM)
    first.wait_event("daemon_stopping")
    first.proc.send_signal(signal.SIGINT)
    assert first.wait(timeout=60) == 0  # not the 600 s grace
    assert first.events("daemon_stop_now", signal="SIGINT")
    (summary,) = first.events("daemon_stopped")
    assert summary["cancelled"] and summary["seconds"] < 60
