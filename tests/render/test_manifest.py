"""The manifest job in process: windows with context, bad entries one by one, an edit renders
only what changed, a finished render is never rendered again, progress on the bus."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from atroposd.bus import Bus, RenderProgressed
from atroposd.pipeline.manifest_model import windows
from atroposd.pipeline.manifests import Manifests, is_manifest_source
from atroposd.render.graph import Encoder
from atroposd.render.layouts import Layouts
from atroposd.render.render import Renderer
from tests.render.media import make_source, probe

SMALL = "testsrc2=size=320x180:rate=12:duration={d}"


def test_windows_context_clamp_and_bad_entries() -> None:
    raw = [
        {"start": 1, "end": 3, "caption": "a"},  # 0.22 s each side
        {"start": 0.1, "end": 1.1, "caption": "b", "context": 0.5},  # clamped at 0
        {"start": 5, "end": 4, "caption": "c"},
        {"start": 9, "end": 11, "caption": "d"},  # past the end (10 s)
        {"start": 1, "end": 2},
        {"start": 1, "end": 2, "caption": "  "},
        {"start": 1, "end": 3, "caption": "again"},
        "nonsense",
    ]
    good, bad = windows(raw, 10.0, 0.11)
    assert [(w.cut_start, w.cut_end) for w in good] == [
        pytest.approx((0.78, 3.22)),
        pytest.approx((0.0, 1.6)),
    ]
    assert [n for n, _ in bad] == [3, 4, 5, 6, 7, 8]
    reasons = dict(bad)
    assert "does not come after" in reasons[3] and "outside the source" in reasons[4]
    assert "caption" in reasons[5] and "caption" in reasons[6] and "entry 1" in reasons[7]


class Job:
    def __init__(self, root: Path) -> None:
        self.out = root / "out"
        self.project = self.out / "acc" / "proj"
        self.project.mkdir(parents=True, exist_ok=True)
        self.problems: list[tuple[Path, str]] = []
        self.bus = Bus()
        self.job = Manifests(
            out_root=self.out,
            cache_dir=root / "cache",
            layouts=Layouts.load(None, "centered"),
            account_layout=lambda a: "no_zoom" if a == "acc" else None,
            renderer=Renderer(Encoder(preset="ultrafast")),
            bus=self.bus,
            on_problem=self._problem,
            context=0.11,
            settle=0.0,
            interval=1.0,
        )

    async def _problem(self, path: Path, reason: str) -> None:
        self.problems.append((path, reason))

    def write(self, entries: list[dict[str, object]]) -> None:
        (self.project / "clips.json").write_text(json.dumps(entries), encoding="utf-8")

    def scan(self) -> int:
        return asyncio.run(self.job.scan_once())

    def shorts(self) -> list[str]:
        return sorted(p.name for p in (self.project / "shorts").iterdir())


def test_manifest_renders_reports_and_rerenders_only_what_changed(tmp_path: Path) -> None:
    job = Job(tmp_path)
    source = make_source(job.project / "proj.mp4", SMALL, seconds=3.0)
    (job.project / "proj.txt").write_text("the transcript")
    assert is_manifest_source(source) is False
    job.write([
        {"start": 0.5, "end": 1.5, "caption": "one", "title": "One"},
        {"start": 2.5, "end": 1.0, "caption": "bad"},
        {"start": 2.0, "end": 2.8, "caption": "two", "layout": "centered"},
    ])  # fmt: skip
    assert is_manifest_source(source)
    seen = job.bus.subscribe(RenderProgressed)
    assert job.scan() == 2
    assert job.shorts() == [
        "clip_0.50-1.50.json", "clip_0.50-1.50.mp4", "clip_0.50-1.50.txt",
        "clip_2.00-2.80.mp4", "clip_2.00-2.80.txt",
    ]  # fmt: skip
    one = job.project / "shorts" / "clip_0.50-1.50.mp4"
    assert float(probe(one)["format"]["duration"]) == pytest.approx(1.22, abs=0.1)
    assert (job.project / "shorts" / "clip_0.50-1.50.txt").read_text() == "one"
    assert [r for _, r in job.problems] == ["entry 2: end 1 s does not come after start 2.5 s"]
    events = [seen.get_nowait() for _ in range(seen.qsize())]
    assert {e.output for e in events} == {str(one), str(one.with_name("clip_2.00-2.80.mp4"))}
    assert any(e.done and e.percent == 100.0 for e in events)
    assert job.scan() == 0  # nothing changed

    # An edit: entry 1 unchanged (its short is gone: posted and archived), entry 3 gets
    # another layout, one entry added. Only the changed and the new ones render.
    one.unlink()
    job.write([
        {"start": 0.5, "end": 1.5, "caption": "one", "title": "One"},
        {"start": 2.0, "end": 2.8, "caption": "two", "layout": "left_aligned"},
        {"start": 0.2, "end": 0.6, "caption": "three"},
    ])  # fmt: skip
    assert job.scan() == 2
    assert "clip_0.50-1.50.mp4" not in job.shorts() and "clip_0.20-0.60.mp4" in job.shorts()

    # A restart (a new job, empty memory) renders nothing again.
    assert Job(tmp_path).scan() == 0


def test_a_render_finished_before_its_record_is_not_rendered_again(tmp_path: Path) -> None:
    job = Job(tmp_path)
    make_source(job.project / "proj.mp4", SMALL, seconds=1.0)
    job.write([{"start": 0.1, "end": 0.5, "caption": "x"}])
    assert job.scan() == 1
    for record in (tmp_path / "cache").iterdir():
        record.unlink()  # the crash came between the rename and the record
    job.job._done.clear()
    assert job.scan() == 0
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_an_unreadable_manifest_is_reported_and_left_alone(tmp_path: Path) -> None:
    job = Job(tmp_path)
    make_source(job.project / "proj.mp4", SMALL, seconds=1.0)
    (job.project / "clips.json").write_text("{not json")
    assert job.scan() == 0
    assert len(job.problems) == 1 and "not valid JSON" in job.problems[0][1]
    assert (job.project / "clips.json").read_text() == "{not json"


def test_a_render_the_full_disk_cut_short_is_tried_again_not_cached(tmp_path: Path) -> None:
    """ffmpeg 5.x exits 0 when the disk fills at the trailer: the short is not published, the
    problem says so, and once there is room the same window renders (not only after an edit)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    full = tools / "full"
    full.touch()
    real = shutil.which("ffmpeg")
    (tools / "ffmpeg").write_text(
        "#!/bin/sh\n"
        f'[ -e "{full}" ] || exec "{real}" "$@"\n'
        f'"{real}" "$@" || exit $?\n'
        "for last; do :; done\n"
        'truncate -s 2048 "$last"\n'
        'echo "Error writing trailer of $last: No space left on device" >&2\n'
        "exit 0\n",
        encoding="utf-8",
    )
    (tools / "ffmpeg").chmod(0o755)
    job = Job(tmp_path)
    env = {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}
    job.job.renderer = Renderer(Encoder(preset="ultrafast"), env=env)
    job.job.write_retry = 0.0
    make_source(job.project / "proj.mp4", SMALL, seconds=2.0)
    job.write([{"start": 0.5, "end": 1.5, "caption": "one"}])
    assert job.scan() == 0
    assert [p.suffix for p in (job.project / "shorts").iterdir()] == [".txt"]
    assert len(job.problems) == 1 and "No space left on device" in job.problems[0][1]
    full.unlink()  # room again
    assert job.scan() == 1
    (video,) = (job.project / "shorts").glob("*.mp4")
    assert probe(video)["streams"]


def _editing_ffmpeg(tools: Path, manifest: Path, edit: Path) -> dict[str, str]:
    """A PATH whose ffmpeg first puts ``edit`` in place of ``manifest`` (once), then runs the
    real ffmpeg: the manifest changes while the render runs, on any machine."""
    real = shutil.which("ffmpeg")
    (tools / "ffmpeg").write_text(
        f'#!/bin/sh\n[ -e "{edit}" ] && mv "{edit}" "{manifest}"\nexec "{real}" "$@"\n',
        encoding="utf-8",
    )
    (tools / "ffmpeg").chmod(0o755)
    return {"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"}


def test_a_window_edited_during_its_render_is_not_left_to_be_posted(tmp_path: Path) -> None:
    """The stale short (the old window) is removed before the watcher could take it; the next
    scan renders the window as edited."""
    job = Job(tmp_path)
    tools = tmp_path / "tools"
    tools.mkdir()
    edit = tmp_path / "edit.json"
    edit.write_text(json.dumps([{"start": 0.5, "end": 1.2, "caption": "new"}]), encoding="utf-8")
    env = _editing_ffmpeg(tools, job.project / "clips.json", edit)
    job.job.renderer = Renderer(Encoder(preset="ultrafast"), env=env)
    make_source(job.project / "proj.mp4", SMALL, seconds=2.0)
    job.write([{"start": 0.5, "end": 1.5, "caption": "old"}])
    with capture_logs() as logs:
        assert job.scan() == 0
    assert not edit.exists()  # the edit landed during the render
    assert not (job.project / "shorts" / "clip_0.50-1.50.mp4").exists()
    assert not (job.project / "shorts" / "clip_0.50-1.50.txt").exists()
    assert any(e["event"] == "render_dropped" for e in logs)
    assert job.scan() == 1
    assert job.shorts() == ["clip_0.50-1.20.mp4", "clip_0.50-1.20.txt"]
    assert (job.project / "shorts" / "clip_0.50-1.20.txt").read_text(encoding="utf-8") == "new"


def test_temp_files_a_killed_daemon_left_are_swept_even_for_a_window_gone_since(
    tmp_path: Path,
) -> None:
    job = Job(tmp_path)
    make_source(job.project / "proj.mp4", SMALL, seconds=2.0)
    shorts = job.project / "shorts"
    shorts.mkdir()
    left = [shorts / ".clip_9.00-9.50.ab12cd34.part.mp4", shorts / ".clip_9.00-9.50.txt.part"]
    for p in left:
        p.write_bytes(b"\0" * 1000)
    job.write([{"start": 0.5, "end": 1.5, "caption": "one"}])
    assert job.scan() == 1
    assert sorted(p.name for p in shorts.iterdir()) == ["clip_0.50-1.50.mp4", "clip_0.50-1.50.txt"]
