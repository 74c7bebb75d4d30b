"""Issue 10, must-show 4: the media check in the real daemon, six platforms in sandbox.

- a 10-bit HEVC 4K clip: YouTube, TikTok and Facebook receive the user's file (same SHA-256 at
  the emulator); Instagram and Snapchat one shared 1080p H.264 variant; X a 720p one;
- a clip longer than Snapchat's 60 s: Snapchat fails with the measured value and the limit,
  the five others receive the file untouched;
- a movie ffprobe finds no video in: one clip_problem with ffprobe's words, the file stays;
- the daemon is killed while X's upload of its variant hangs; the restart reuses the variant:
  each variant is transcoded once across both runs.
"""

from __future__ import annotations

import os
from pathlib import Path

from atroposd.providers import PLATFORMS
from tests.media_clips import broken_movie, hevc_10bit_4k, long_clip
from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

HD, X720 = "h264-1920x1080-copy", "h264-1280x720-copy"


def drop(ws: Workspace, video: Path) -> None:
    """Caption first, then the video renamed in (the pair is complete when it appears)."""
    (ws.queue / f"{video.stem}.txt").write_text(f"Clip {video.stem}\n\n#shorts\n", "utf-8")
    os.replace(video, ws.queue / video.name)


def test_variants_rejections_and_untouched_files_across_a_restart(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms(*PLATFORMS)
    staged = ws.root / "staged"
    staged.mkdir()
    clips = {
        "uhd": hevc_10bit_4k(staged / "uhd.mp4"),
        "long": long_clip(staged / "long.mp4"),
        "broken": broken_movie(staged / "broken.mp4"),
    }
    sha = {name: sha256(path) for name, path in clips.items()}
    # X's first initialize (the 4K clip's) hangs: the first daemon dies with X's variant made,
    # not yet sent. The long clip comes during the second run.
    emulator.faults({"platform": "x", "step": "init", "nth": 1, "action": "delay", "seconds": 20})
    first = Daemon(ws)
    try:
        first.wait_event("daemon_started")
        for name in ("uhd", "broken"):
            drop(ws, clips[name])
        first.wait_event("variant_transcoded", profile=X720, timeout=120)
        wait_for(lambda: emulator.http.get("/_emulator/faults").json() == [], 30, "X init held")
        problem = first.wait_event("clip_problem", path=str(ws.queue / "broken.mp4"))[0]
    finally:
        first.kill9()
    assert problem["reason"].endswith(
        "not a readable video: no video stream (ffprobe found none); "
        "ffprobe: Invalid mvhd time scale 0, defaulting to 1"
    )
    second = Daemon(ws)
    runs = (first, second)

    def said(event: str) -> set[tuple[str, str]]:
        return {(ln["clip"], ln["platform"]) for d in runs for ln in d.events(event)}

    wanted = {("uhd.mp4", p) for p in PLATFORMS} | {("long.mp4", p) for p in PLATFORMS}
    try:
        second.wait_event("daemon_started")
        drop(ws, clips["long"])
        wait_for(lambda: said("OK") | said("ERR") >= wanted, 120, "every post settled")
    finally:
        assert second.stop() == 0
    assert said("ERR") == {("long.mp4", "snapchat")}
    err = next(ln for d in runs for ln in d.events("ERR"))
    assert err["error"].startswith("duration 61.0 s is above Snapchat's limit of 60 s")
    renders = ws.state / "renders"
    variant = {key: sha256(renders / f"{sha['uhd']}.{key}.mp4") for key in (HD, X720)}
    received = {(p["platform"], p["sha256"]) for p in emulator.posts()}
    assert received == {
        ("youtube", sha["uhd"]),
        ("tiktok", sha["uhd"]),
        ("facebook", sha["uhd"]),
        ("instagram", variant[HD]),
        ("snapchat", variant[HD]),
        ("x", variant[X720]),
        *((p, sha["long"]) for p in PLATFORMS if p != "snapchat"),
    }
    made = [ln["profile"] for d in (first, second) for ln in d.events("variant_transcoded")]
    assert sorted(made) == sorted([HD, X720])  # once each, across the restart
    assert second.events("variant_reused", platform="x", profile=X720)
    assert (ws.queue / "broken.mp4").exists() and (ws.queue / "long.mp4").exists()
    assert not [p for p in renders.iterdir() if p.name.startswith(".")]  # no temp left
