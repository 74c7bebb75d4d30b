"""§4.8 end to end: a fragmented MP4 copied into the queue, paused exactly at a fragment
boundary with the file still open, is posted only once whole (real ffmpeg file, real daemon)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, wait_for
from tests.watch.fragmp4 import PausingWriter, fragment_ends, make_fragmented


def test_a_copy_paused_at_a_fragment_boundary_is_posted_whole(
    ws: Workspace, emulator: Emulator, tmp_path: Path
) -> None:
    data = make_fragmented(tmp_path / "recording.mp4")
    video = ws.queue / "rec.mp4"
    writer = PausingWriter(video, data, fragment_ends(data)[1])
    daemon = Daemon(ws)
    try:
        daemon.wait_event("watch_started")
        (ws.queue / "rec.txt").write_text("A recording\n\n#shorts\n")
        copy = threading.Thread(target=writer.run)
        copy.start()
        try:
            assert writer.paused.wait(60)
            # Quiet for SETTLE_SECONDS and every box whole: the old watcher published here.
            judged = ("watch_waiting_for_writer", "watch_clip_ready")
            wait_for(lambda: any(daemon.events(e) for e in judged), 30, "the paused file judged")
            assert daemon.events("watch_clip_ready") == []
            assert daemon.events("watch_waiting_for_writer", path=str(video))
            assert emulator.uploads() == []
        finally:
            writer.resume.set()
            copy.join(60)
        ok = daemon.wait_event("OK", timeout=60)[0]
    finally:
        assert daemon.stop() == 0
    (post,) = emulator.posts()
    assert post["sha256"] == hashlib.sha256(data).hexdigest()
    assert ok["bytes"] == len(data)
