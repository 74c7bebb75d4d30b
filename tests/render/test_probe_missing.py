"""No ffprobe on PATH (ffmpeg not installed; the demo's clips come from imageio-ffmpeg, which
ships no ffprobe): clips are planned and uploaded unchecked, said once, not refused one by one
as unreadable."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import structlog.testing

from atroposd.domain import ClipFiles
from atroposd.pipeline.intake import Intake
from atroposd.pipeline.variants import MediaCheck
from atroposd.render.probe import Prober
from tests.media_clips import caps
from tests.render.test_media_variants import request_for
from tests.unit.pipeline_support import desk, real_clip

GONE = "/nonexistent/bin/ffprobe"
TINY_444 = ["-f", "lavfi", "-i", "testsrc2=size=64x114:rate=5", "-t", "1", "-pix_fmt", "yuv444p"]


def test_without_ffprobe_clips_are_planned_and_sent_as_they_are(tmp_path: Path) -> None:
    clip = real_clip(tmp_path, seed=3)
    with desk(tmp_path / "d", clip) as d:
        d.queue.mkdir(parents=True, exist_ok=True)
        video = d.queue / "a.mp4"
        video.write_bytes(clip.read_bytes())
        video.with_suffix(".txt").write_text("A caption", encoding="utf-8")
        files = ClipFiles(video, video.with_suffix(".txt"), None, d.queue, "alice")
        prober = Prober(ffprobe=GONE)
        intake = Intake(d.ledger, lambda _: ["youtube"], {"youtube"}, d.clock, prober=prober)
        with structlog.testing.capture_logs() as logs:
            got = asyncio.run(intake.admit(files))
            source = tmp_path / "444.mp4"  # 4:4:4: X would get a variant if it were probed
            subprocess.run(["ffmpeg", "-v", "error", "-y", *TINY_444, str(source)], check=True)
            check = MediaCheck(tmp_path / "renders", prober)
            request = request_for(source)
            sent = asyncio.run(check.fit(request, "x", caps()["x"]))
    assert [p.platform for p in got.new] == ["youtube"]
    assert sent == request and check.transcodes == 0  # unchecked: the user's file
    off = [e for e in logs if e["event"] == "media_check_off"]
    assert len(off) == 1  # said once, not per clip
    assert "ffprobe not found on PATH: install ffmpeg" in off[0]["reason"]
