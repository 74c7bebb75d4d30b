"""`atroposd render`: the CLI renders a cut in a layout; a bad layout is a config error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.render.media import probe
from tests.support import make_clip


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / ".env").write_text("", encoding="utf-8")
    cmd = [sys.executable, "-m", "atroposd", "--env-file", str(tmp_path / ".env"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_render_command(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=1.0)
    out = tmp_path / "out.mp4"
    done = cli(tmp_path, "render", str(src), "--layout", "no_zoom", "--start", "0.2",
               "--end", "0.7", "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"rendered {out} (layout no_zoom, libx264")
    data = probe(out)
    assert (data["streams"][0]["width"], data["streams"][0]["height"]) == (1080, 1920)
    assert float(data["format"]["duration"]) == pytest.approx(0.5, abs=0.1)
    bad = cli(tmp_path, "render", str(src), "--layout", "wobbly", "-o", str(tmp_path / "b.mp4"))
    assert bad.returncode == 2 and "--layout: unknown layout 'wobbly'" in bad.stderr
    assert not (tmp_path / "b.mp4").exists()
