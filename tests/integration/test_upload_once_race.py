"""``upload --once`` counts a post that was published while the next clip was still being
admitted: its summary names both posts (before the fix the first one was left out, since only
the posts still active after every admit counted; seen under load as a missing ``published=2``).

The second clip's admit is made slow for real: ``ffprobe`` (found on PATH) is the real one, held
for ``b.mp4`` until a gate file exists, which the test opens once the first clip is published.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, wait_for

GATED_PROBE = """#!/bin/sh
# the real ffprobe, held for b.mp4 until {gate} exists (60 s at most)
case "$*" in
  */b.mp4*)
    touch {gate}.started
    i=0
    while [ ! -e {gate} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done;;
esac
exec {ffprobe} "$@"
"""


def test_a_post_published_during_the_next_admit_counts_in_the_summary(
    tmp_path: Path, ws: Workspace, emulator: Emulator
) -> None:
    found = [Path(d) / "ffprobe" for d in os.environ["PATH"].split(os.pathsep)]
    real = next(p for p in found if p.is_file() and os.access(p, os.X_OK))
    folder, gate = tmp_path / "bin", tmp_path / "gate"
    folder.mkdir()
    (folder / "ffprobe").write_text(GATED_PROBE.format(gate=gate, ffprobe=real), encoding="utf-8")
    (folder / "ffprobe").chmod(0o755)
    ws.drop("a", seed=64)
    ws.drop("b", seed=65)
    run = Daemon(ws, ("upload", "--once"), {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"})
    try:
        wait_for(lambda: gate.with_suffix(".started").exists(), 60, "b.mp4's ffprobe")
        run.wait_event("OK", platform="youtube", timeout=60)  # a.mp4, while b.mp4 is admitted
        gate.touch()
        assert run.wait() == 0, "".join(run.stderr)
        assert run.events("summary", platform="youtube", published=2), run.events("summary")
        assert len(emulator.posts()) == 2
    finally:
        gate.touch()
        run.stop()
