"""A copy written in two parts (``curl -C -``, ``wget -c``, ``cat part >> out.mp4``): a
fragmented MP4 closed at a fragment boundary, the rest appended later, is posted only once
whole (real ffmpeg file, real daemon, real inotify). Found by a user trial: the daemon posted
the first part ~2 s after the close."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, wait_for
from tests.watch.fragmp4 import fragment_ends, make_fragmented


def test_a_copy_closed_at_a_fragment_boundary_then_resumed_is_posted_whole(
    ws: Workspace, emulator: Emulator, tmp_path: Path
) -> None:
    data = make_fragmented(tmp_path / "recording.mp4")  # ends in ffmpeg's mfra
    cut = fragment_ends(data)[1]
    video = ws.queue / "rec.mp4"
    daemon = Daemon(ws)  # SETTLE_SECONDS 0.5, FRAGMENTED_SETTLE_SECONDS 30 (the default)
    try:
        daemon.wait_event("watch_started")
        (ws.queue / "rec.txt").write_text("A recording\n\n#shorts\n")
        video.write_bytes(data[:cut])  # the first part, closed: no mfra, every box whole
        judged = ("watch_waiting_for_end", "watch_clip_ready")
        wait_for(lambda: any(daemon.events(e) for e in judged), 30, "the first part judged")
        assert daemon.events("watch_clip_ready") == []
        assert daemon.events("watch_waiting_for_end", path=str(video))
        assert emulator.uploads() == []
        with video.open("ab") as f:  # the copy resumes
            f.write(data[cut:])
        ok = daemon.wait_event("OK", timeout=60)[0]
    finally:
        assert daemon.stop() == 0
    (post,) = emulator.posts()
    assert post["sha256"] == hashlib.sha256(data).hexdigest()
    assert ok["bytes"] == len(data)
    assert len(daemon.events("watch_clip_ready")) == 1
    assert len(daemon.events("watch_waiting_for_end")) == 1  # once per content, not per poll
