"""Clip manifests end to end in sandbox: the daemon renders each window of clips.json into a
short and posts it; a bad entry is reported and the others post; the source is never posted;
a restart renders nothing again."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.render.media import make_source, probe
from tests.support import Daemon, Emulator, Workspace, sha256, wait_for

SOURCE = "testsrc2=size=320x180:rate=12:duration={d}"


def project(ws: Workspace, name: str, seconds: float, entries: list[dict[str, object]]) -> str:
    """A project folder as Atropos leaves it: the source, its transcript, then clips.json."""
    folder = ws.out / "default" / name
    folder.mkdir(parents=True)
    staged = make_source(ws.root / f"{name}.mp4", SOURCE, seconds=seconds)
    digest = sha256(staged)
    os.replace(staged, folder / f"{name}.mp4")
    (folder / f"{name}.txt").write_text("[0.00 -> 4.00] the transcript\n", encoding="utf-8")
    (folder / "clips.json").write_text(json.dumps(entries), encoding="utf-8")
    return digest


def durations_by_sha(root: Path) -> dict[str, float]:
    return {
        sha256(p): float(probe(p)["format"]["duration"])
        for p in root.rglob("*.mp4")
        if not p.name.startswith(".")
    }


def test_manifest_windows_are_rendered_and_posted(ws: Workspace, emulator: Emulator) -> None:
    talk = project(ws, "talk", 4.0, [
        {"start": 0.5, "end": 1.5, "caption": "First window\n\n#shorts"},  # ±0.11 s
        {"start": 2.0, "end": 3.0, "caption": "Second", "context": 0.5},  # ±0.5 s
        {"start": 3.2, "end": 4.0, "caption": "Third", "title": "The third"},  # clamped at 4
    ])  # fmt: skip
    other = project(ws, "other", 3.0, [
        {"start": 0.2, "end": 1.0, "caption": "Fine"},
        {"start": 2.0, "end": 1.0, "caption": "end before start"},
        {"start": 1.5, "end": 2.5, "caption": "Also fine", "context": 0},
    ])  # fmt: skip
    daemon = Daemon(ws)
    try:
        daemon.wait_event("OK", count=5, platform="youtube", timeout=120)
        posts = emulator.posts()
        assert len(posts) == 5 and not {talk, other} & {p["sha256"] for p in posts}
        problems = daemon.events("clip_problem")
        assert [(Path(p["path"]).parent.name, p["reason"]) for p in problems] == [
            ("other", "entry 2: end 1 s does not come after start 2 s")
        ]
        titles = {p["title"] for p in posts}
        assert {"First window", "Second", "The third", "Fine", "Also fine"} == titles
        wait_for(lambda: len(durations_by_sha(ws.posted)) == 5, 30, "five shorts archived")
        got = durations_by_sha(ws.posted)
        assert sorted(p["sha256"] for p in posts) == sorted(got)
        assert sorted(got.values()) == pytest.approx(
            sorted([1.22, 2.0, 0.888, 0.976, 1.0]), abs=0.1
        )
        assert len(daemon.events("render_done")) == 5
    finally:
        assert daemon.stop() == 0
    again = Daemon(ws)  # a restart: the shorts were posted and archived; nothing renders
    try:
        checked = again.wait_event("manifest_checked", count=2)
        assert [c["rendered"] for c in checked] == [0, 0]
        assert again.events("render_started") == [] and len(emulator.posts()) == 5
    finally:
        assert again.stop() == 0
