"""``POST /api/jobs`` on a folder of several clips answers 202 once the paths are checked; the
clips are planned by the daemon's background planner (one folder at a time, two waiting, then 429).
A stop while it plans leaves no traceback, and the next start's scan plans what was left.

Planning is made slow for real: the daemon's ``ffprobe`` (found on PATH, as in production) is the
real one behind a gate file the test opens. Before the fix the request itself waited on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import httpx

from tests.api.support import LiveApi, start_daemon
from tests.support import Daemon, Emulator, Workspace, make_clip, wait_for

CLIPS = 3
GATED_PROBE = """#!/bin/sh
# the real ffprobe, held for clips of a folder named {word}_* until {gate} exists (60 s at most)
case "$*" in
  *{word}_*)
    touch {gate}.started
    i=0
    while [ ! -e {gate} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i + 1)); done;;
esac
exec {ffprobe} "$@"
"""


def _gated_ffprobe(tmp_path: Path, word: str) -> tuple[Path, Path]:
    """A PATH folder whose ``ffprobe`` waits on the returned gate file for ``word`` folders."""
    found = [Path(d) / "ffprobe" for d in os.environ["PATH"].split(os.pathsep)]
    real = next(p for p in found if p.is_file() and os.access(p, os.X_OK))
    folder, gate = tmp_path / "bin", tmp_path / "gate"
    folder.mkdir()
    script = folder / "ffprobe"
    script.write_text(GATED_PROBE.format(word=word, gate=gate, ffprobe=real), encoding="utf-8")
    script.chmod(0o755)
    return folder, gate


def _project(ws: Workspace, name: str, seed: int) -> tuple[Path, list[str]]:
    project = ws.out / "default" / name
    clips = []
    for i in range(CLIPS):
        video = make_clip(project / "shorts" / f"c{i}.mp4", seconds=1, seed=seed + i)
        video.with_suffix(".txt").write_text(f"Clip {i}\n", encoding="utf-8")
        clips.append(f"default/{name}/shorts/c{i}.mp4")
    return project, clips


def _planned(api: httpx.Client) -> set[str]:
    jobs = api.get("/api/jobs", params={"account": "default", "limit": 100}).json()["jobs"]
    return {j["clip"] for j in jobs}


def _start(tmp_path: Path, emulator: Emulator, word: str) -> tuple[LiveApi, Path]:
    ws = Workspace(tmp_path / "home", emulator.url, api=True)
    ws.env["SETTLE_SECONDS"] = "600"  # the watcher waits: these clips come through the API
    ws.use_platforms("x")
    folder, gate = _gated_ffprobe(tmp_path, word)
    path = f"{folder}{os.pathsep}{os.environ['PATH']}"
    return start_daemon(ws, emulator, PATH=path), gate


def test_a_folder_is_answered_before_its_clips_are_planned_then_all_are(
    tmp_path: Path, emulator: Emulator
) -> None:
    live, gate = _start(tmp_path, emulator, "gated")
    try:
        project, clips = _project(live.ws, "gated_trip", seed=300)
        with live.client() as api:
            got = api.post("/api/jobs", json={"path": str(project)})  # before: waited on ffprobe
            assert got.status_code == 202, got.text
            body = got.json()
            assert body["job_id"] is None and body["jobs"] == [], body
            assert sorted(body["queued"]) == clips
            assert body["follow"] == "/api/jobs?account=default"
            wait_for(lambda: gate.with_suffix(".started").exists(), 30, "a clip's ffprobe")
            assert not _planned(api) & set(clips)  # the gate is shut: nothing planned yet
            again = [api.post("/api/jobs", json={"path": str(project)}) for _ in range(3)]
            assert [r.status_code for r in again] == [202, 202, 429], [r.text for r in again]
            assert again[2].headers["Retry-After"] and again[2].json()["detail"]
            gate.touch()
            wait_for(lambda: _planned(api) >= set(clips), 60, "every clip of the folder planned")
        assert live.daemon.stop() == 0
    finally:
        gate.touch()
        live.daemon.stop()


def test_a_stop_while_a_folder_is_planned_leaves_no_traceback_and_the_scan_plans_it(
    tmp_path: Path, emulator: Emulator
) -> None:
    live, gate = _start(tmp_path, emulator, "held")
    again: Daemon | None = None
    try:
        project, clips = _project(live.ws, "held_trip", seed=400)

        def post() -> None:  # before the fix this request was still running at the stop
            with live.client() as api, contextlib.suppress(httpx.HTTPError):
                api.post("/api/jobs", json={"path": str(project)})

        poster = threading.Thread(target=post, daemon=True)
        poster.start()
        wait_for(lambda: gate.with_suffix(".started").exists(), 30, "a clip's ffprobe")
        live.daemon.proc.terminate()
        live.daemon.wait_event("api_stopped")  # the server is down (after its grace period)
        gate.touch()  # lets the probe's thread end (asyncio.run waits for it)
        assert live.daemon.wait(60) == 0
        poster.join(30)
        err = "".join(live.daemon.stderr)
        assert "Traceback" not in err and "Exception in ASGI application" not in err, err
        again = Daemon(live.ws, extra_env={"SETTLE_SECONDS": "0.5"})
        again.wait_event("daemon_started")
        with live.client() as api:
            wait_for(lambda: _planned(api) >= set(clips), 60, "every clip planned after restart")
        assert again.stop() == 0
    finally:
        gate.touch()
        live.daemon.stop()
        if again is not None:
            again.stop()
