"""SIGTERM during a long start-up scan stops the daemon (exit 0, STOPPING=1, no READY=1) instead of
being ignored until the scan ends; after a restart every clip is planned.

The scan is made slow for real: the daemon's ``ffprobe`` (found on PATH, as in production) is the
real one behind a gate file the test opens (tests/api/test_folder_background.py's technique).
Before the fix, the start waited for the scan alone: no ``daemon_stopping`` while the gate was shut.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, make_clip, wait_for
from tests.systemd.listener import NotifyListener

CLIPS = 2
GATED_PROBE = """#!/bin/sh
# the real ffprobe, held for clips of a folder named held_* until {gate} exists (60 s at most)
case "$*" in
  *held_*)
    touch {gate}.started
    i=0
    while [ ! -e {gate} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done;;
esac
exec {ffprobe} "$@"
"""


def _gated_path(tmp_path: Path) -> tuple[str, Path]:
    """A PATH whose ``ffprobe`` waits on the returned gate file for ``held_*`` folders."""
    found = [Path(d) / "ffprobe" for d in os.environ["PATH"].split(os.pathsep)]
    real = next(p for p in found if p.is_file() and os.access(p, os.X_OK))
    folder, gate = tmp_path / "bin", tmp_path / "gate"
    folder.mkdir()
    script = folder / "ffprobe"
    script.write_text(GATED_PROBE.format(gate=gate, ffprobe=real), encoding="utf-8")
    script.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}", gate


def _clips(ws: Workspace) -> set[str]:
    """Clips already in OUT_ROOT when the daemon starts (its start-up scan finds them)."""
    clips = set()
    for i in range(CLIPS):
        video = make_clip(ws.out / "default" / "held_trip" / "shorts" / f"c{i}.mp4", 1, 500 + i)
        video.with_suffix(".txt").write_text(f"Clip {i}\n", encoding="utf-8")
        clips.add(f"default/held_trip/shorts/c{i}.mp4")
    return clips


def test_sigterm_during_the_startup_scan_stops_without_ready_and_loses_nothing(
    tmp_path: Path, ws: Workspace, emulator: Emulator
) -> None:
    clips = _clips(ws)
    path, gate = _gated_path(tmp_path)
    listener = NotifyListener()
    first = Daemon(ws, extra_env={**listener.env, "PATH": path})
    again: Daemon | None = None
    try:
        wait_for(lambda: gate.with_suffix(".started").exists(), 60, "the scan's first ffprobe")
        first.proc.send_signal(signal.SIGTERM)
        first.wait_event("daemon_stopping", timeout=30)  # before the fix: only after the scan
        gate.touch()  # lets the probe's thread end (asyncio.run waits for it)
        assert first.wait(60) == 0
        (summary,) = first.events("daemon_stopped")
        assert summary["cancelled"] == [] and summary["resume_at_start"] is False
        assert first.events("daemon_started") == []
        assert listener.with_key("STOPPING", "1") and not listener.with_key("READY")
        err = "".join(first.stderr)
        assert "Traceback" not in err, err
        again = Daemon(ws)
        again.wait_event("daemon_started")
        planned = lambda: {ln["clip"] for d in (first, again) for ln in d.events("PLAN")}  # noqa: E731
        wait_for(lambda: planned() >= clips, 60, f"every clip planned: {planned()}")
        assert again.stop() == 0
    finally:
        listener.close()
        gate.touch()
        first.stop()
        if again is not None:
            again.stop()
