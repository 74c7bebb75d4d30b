"""The daemon and its watched folders going away and coming back (§5), with the periodic
rescan an hour away: only the watcher's folder check and re-established watch can help."""

from __future__ import annotations

import shutil

from tests.support import Daemon, Emulator, Workspace

HOUR = {"RESCAN_SECONDS": "3600", "RECONCILE_SECONDS": "3600"}


def test_a_queue_deleted_and_recreated_is_watched_again(ws: Workspace, emulator: Emulator) -> None:
    daemon = Daemon(ws, extra_env=HOUR)
    try:
        daemon.wait_event("watch_started")
        shutil.rmtree(ws.queue)
        ws.queue.mkdir()
        ws.drop("after", seed=71)
        ok = daemon.wait_event("OK", timeout=30)[0]
        assert ok["clip"] == "after.mp4"
    finally:
        assert daemon.stop() == 0


def test_an_unavailable_queue_does_not_stop_the_daemon(ws: Workspace, emulator: Emulator) -> None:
    """The queue becomes a file (a drive gone, its mount point reused): one clear line, the
    output root is still published from, and the queue is picked up again when it is back."""
    daemon = Daemon(ws, extra_env=HOUR)
    try:
        daemon.wait_event("watch_started")
        shutil.rmtree(ws.queue)
        ws.queue.write_text("not a folder")
        daemon.wait_event("watch_folder_unavailable", folder=str(ws.queue))
        ws.drop("elsewhere", seed=72, folder=ws.out / "default" / "proj")
        daemon.wait_event("OK", timeout=30)
        ws.queue.unlink()
        ws.queue.mkdir()
        ws.drop("back", seed=73)
        oks = daemon.wait_event("OK", count=2, timeout=30)
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0
    assert sorted(o["clip"] for o in oks) == ["back.mp4", "default/proj/elsewhere.mp4"]
    lines = daemon.events("watch_folder_unavailable")
    assert [line["folder"] for line in lines] == [str(ws.queue)]
    assert daemon.events("watch_folder_available", folder=str(ws.queue))
