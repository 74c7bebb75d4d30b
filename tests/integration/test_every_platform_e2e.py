"""The example config's six platforms, end to end in sandbox, as the README's demo runs them.

Real daemon process, real watchdog, real SQLite, real ffmpeg clips, real HTTP to the emulator:
two pairs dropped in ``upload_queue/`` become two posts on each platform holding the file's
bytes (Snapchat's decrypted), one PLAN and one OK per platform per clip, and the files are
archived only after the last platform published.
"""

from __future__ import annotations

import json
import os

from atroposd.providers import PLATFORMS
from tests.support import REPO, Daemon, Emulator, Workspace, sha256, wait_for

EXAMPLE = REPO / "atroposd" / "data" / "upload_config.example.json"


def test_two_pairs_become_two_posts_on_every_platform_of_the_example_config(
    ws: Workspace, emulator: Emulator
) -> None:
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    platforms = sorted(example["accounts"]["default"]["platforms"])
    assert platforms == sorted(PLATFORMS), "the example config should enable every platform"
    ws.use_platforms(*platforms)
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        hashes = {}
        for i in range(2):  # hashed before the daemon sees it: it may archive it at once
            held = ws.drop(f"all{i}", seed=140 + i, folder=ws.root / "held")
            hashes[sha256(held)] = held.name
            os.replace(held, ws.queue / held.name)
            os.replace(held.with_suffix(".txt"), ws.queue / f"all{i}.txt")
        for platform in platforms:
            daemon.wait_event("OK", count=2, platform=platform, timeout=120)
        for name in hashes.values():
            pair = [name, name.replace(".mp4", ".txt")]
            wait_for(lambda p=pair: all((ws.posted / n).exists() for n in p), 30, f"{pair}")
        for platform in platforms:
            mine = [p for p in emulator.posts() if p["platform"] == platform]
            assert sorted(p["sha256"] for p in mine) == sorted(hashes), platform
            assert {p["account"] for p in mine} == {"default"}, platform
            plans = daemon.events("PLAN", platform=platform)
            assert sorted(p["clip"] for p in plans) == ["all0.mp4", "all1.mp4"], platform
            assert len(daemon.events("OK", platform=platform)) == 2, platform
        daemon.wait_event("clip_archived", count=2)
        lines = list(daemon.lines)
        archived = sorted(ln["clip"] for ln in lines if ln.get("event") == "clip_archived")
        assert archived == ["all0.mp4", "all1.mp4"], archived
        for at, line in enumerate(lines):  # each clip archived only after its six OK lines
            if line.get("event") == "clip_archived":
                clip = line.get("clip")
                done = {
                    ln["platform"]
                    for ln in lines[:at]
                    if ln.get("event") == "OK" and ln.get("clip") == clip
                }
                assert done == set(platforms), f"{clip} archived before all platforms: {done}"
    finally:
        assert daemon.stop() == 0
