"""``kill -9`` of the daemon in the middle of a render, then a restart: ffmpeg dies with the
daemon, no partial file is ever posted, and the short is rendered (completed) exactly once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.render.media import make_source, probe
from tests.support import Daemon, Emulator, Workspace, sha256, wait_for


def slow_ffmpeg(folder: Path) -> str:
    """A PATH entry whose ffmpeg reads its input at a fifth of its speed (``-readrate``): a
    3.7 s cut takes at least 18 s on any machine, so the kill lands in the middle of it, and an
    ffmpeg that outlived the daemon would still be running when the check below gives up."""
    folder.mkdir()
    wrapper = folder / "ffmpeg"
    real = shutil.which("ffmpeg")
    assert real is not None
    wrapper.write_text(f'#!/bin/sh\nexec {real} -readrate 0.2 "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def ffmpeg_writing_into(folder: Path) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ffmpeg" in cmd and str(folder).encode() in cmd:
            return True
    return False


def test_kill9_mid_render_never_posts_a_partial_file(ws: Workspace, emulator: Emulator) -> None:
    folder = ws.out / "default" / "talk"
    folder.mkdir(parents=True)
    make_source(folder / "talk.mp4", "testsrc2=size=320x180:rate=12:duration={d}", seconds=4)
    (folder / "clips.json").write_text(json.dumps([{"start": 0.5, "end": 3.5, "caption": "x"}]))
    shorts = folder / "shorts"

    first = Daemon(ws, extra_env={"PATH": slow_ffmpeg(ws.root / "slowbin")})
    first.wait_event("render_started")
    wait_for(lambda: any(p.name.endswith(".part.mp4") for p in shorts.iterdir()), 30, "temp")
    first.kill9()
    wait_for(lambda: not ffmpeg_writing_into(shorts), 10, "ffmpeg gone with the daemon")
    assert [p.name for p in shorts.iterdir() if p.suffix == ".mp4" and p.name[0] != "."] == []
    assert first.events("render_done") == [] and emulator.posts() == []

    second = Daemon(ws)
    try:
        second.wait_event("OK", platform="youtube", timeout=120)
        (post,) = emulator.posts()
        assert len(second.events("render_done")) == 1
        archived = wait_for(lambda: list(ws.posted.rglob("clip_*.mp4")), 30, "archived")
        assert post["sha256"] == sha256(archived[0])
        assert float(probe(archived[0])["format"]["duration"]) == pytest.approx(3.66, abs=0.1)
        assert not [p for p in shorts.iterdir() if p.name.startswith(".")]  # temp cleaned up
    finally:
        assert second.stop() == 0
