"""Intake probes a clip once, when it is first planned: a restart (a new process, an empty probe
cache) does not run ffprobe again over every clip still in the queue (~90 ms CPU each)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from atroposd.domain import ClipFiles
from atroposd.pipeline.intake import Intake
from atroposd.render.probe import Prober
from tests.unit.pipeline_support import desk, real_clip


def test_a_restart_does_not_probe_clips_already_planned(tmp_path: Path) -> None:
    clip = real_clip(tmp_path, seed=4)
    with desk(tmp_path / "d", clip) as d:
        d.queue.mkdir(parents=True, exist_ok=True)
        video = d.queue / "a.mp4"
        video.write_bytes(clip.read_bytes())
        video.with_suffix(".txt").write_text("A caption", encoding="utf-8")
        files = ClipFiles(video, video.with_suffix(".txt"), None, d.queue, "alice")

        def intake(prober: Prober) -> Intake:
            return Intake(d.ledger, lambda _: ["youtube"], {"youtube"}, d.clock, prober=prober)

        first = Prober()
        got = asyncio.run(intake(first).admit(files))
        assert [p.platform for p in got.new] == ["youtube"] and first.runs == 1
        again = Prober()  # the daemon restarted: its start-up scan admits the clip again
        got = asyncio.run(intake(again).admit(files))
        assert got.new == [] and [p.platform for p in got.known] == ["youtube"]
        assert again.runs == 0
