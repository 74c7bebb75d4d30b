"""Layout data, geometry, the layout choice, cuts, silent sources and the encoder fallback."""

from __future__ import annotations

import asyncio
import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from atroposd.config import load_settings
from atroposd.errors import ConfigError, InputError
from atroposd.pipeline.intake import parse_sidecar
from atroposd.render.geometry import Box, plan
from atroposd.render.graph import Cut, Encoder, ffmpeg_args, gop
from atroposd.render.layouts import Layouts
from atroposd.render.render import Renderer, cache_key, rendered_key
from atroposd.render.source import SourceInfo
from tests.render.media import TALL, make_source, probe
from tests.support import make_clip

PACKAGE_LAYOUTS = Path(__file__).resolve().parents[2] / "atroposd" / "render" / "layouts"

BUILTIN = Layouts.load(None, "centered")


def test_original_geometry_for_a_1080p_source() -> None:
    fg = plan(BUILTIN.get("centered", "t"), 1920, 1080).pieces[0]
    assert (fg.scale, fg.trim, fg.x, fg.y) == ((1366, 768), Box(143, 0, 1080, 768), 0, 499)
    left = plan(BUILTIN.get("left_aligned", "t"), 1920, 1080).pieces[0]
    assert (left.trim, left.x) == (Box(0, 0, 1080, 768), 0)
    nz = plan(BUILTIN.get("no_zoom", "t"), 1920, 1080).pieces[0]
    assert (nz.scale, nz.trim, nz.x, nz.y) == ((1080, 608), None, 0, 579)
    small = plan(BUILTIN.get("no_zoom", "t"), 640, 360).pieces[0]
    assert small.scale == (640, 360)  # never upscaled
    _, lt, rt = plan(BUILTIN.get("centered_with_corners", "t"), 1920, 1080).pieces
    assert lt.crop == Box(0, 432, 480, 270) and rt.crop == Box(1440, 432, 480, 270)
    assert (lt.scale, lt.x, lt.y) == ((512, 288), 22, 22)
    assert rt.x + rt.scale[0] == 1080 - 22


def test_a_vertical_source_has_no_background() -> None:
    p = plan(BUILTIN.get("centered_with_corners", "t"), 720, 1280)
    assert not p.background and len(p.pieces) == 1 and p.pieces[0].scale == (1080, 1920)


def test_layout_choice_clip_then_account_then_default(tmp_path: Path) -> None:
    layouts = Layouts.load(None, "no_zoom")
    assert layouts.pick().name == "no_zoom"
    assert layouts.pick(account=("left_aligned", "account a")).name == "left_aligned"
    picked = layouts.pick(clip=("centered", "x.json"), account=("left_aligned", "account a"))
    assert picked.name == "centered"
    with pytest.raises(ConfigError, match=r"clips\.json entry 2: unknown layout 'wobble'"):
        layouts.pick(clip=("wobble", "clips.json entry 2"))
    with pytest.raises(ConfigError, match="RENDER_LAYOUT: unknown layout 'nope'"):
        Layouts.load(None, "nope")


def test_user_layouts_from_layouts_dir(tmp_path: Path) -> None:
    (tmp_path / "cam.json").write_text(
        json.dumps({
            "name": "cam",
            "background": {"kind": "color", "color": "#101016"},
            "tiles": [
                {"region": {"x": 0.7, "y": 0.7, "width": 0.3, "height": 0.3}, "side": "right"}
            ],
        }),
        encoding="utf-8",
    )  # fmt: skip
    layouts = Layouts.load(tmp_path, "cam")
    assert layouts.default.tiles[0].region.x == 0.7 and "centered" in layouts.by_name
    (tmp_path / "bad.json").write_text('{"name": "bad", "tiles": [{"side": "up"}]}')
    with pytest.raises(ConfigError, match=r"bad\.json: tiles\.0\.region"):
        Layouts.load(tmp_path, "cam")


def test_cache_key_changes_with_source_layout_and_cut() -> None:
    c, n = BUILTIN.get("centered", "t"), BUILTIN.get("no_zoom", "t")
    base = cache_key("a" * 64, c, Cut(1, 2))
    assert base == cache_key("a" * 64, c, Cut(1.0, 2.0))
    others = {cache_key("b" * 64, c, Cut(1, 2)), cache_key("a" * 64, n, Cut(1, 2))}
    others |= {cache_key("a" * 64, c, Cut(1, 2.5)), cache_key("a" * 64, c, None)}
    assert base not in others and len(others) == 4


def test_output_options() -> None:
    info = SourceInfo(1920, 1080, fps=Fraction(120), duration=3, has_audio=True)
    args = ffmpeg_args("s.mp4", info, plan(BUILTIN.default, 1920, 1080), BUILTIN.default.background)
    assert args[args.index("-r") + 1] == "60" and args[args.index("-g") + 1] == "120"
    assert args.count("-map") == 2  # the picture and the first audio stream, padded from 0
    assert "[0:a:0]aresample=async=1:first_pts=0" in args[args.index("-filter_complex") + 1]
    assert gop(Fraction(30000, 1001)) == 59  # < 2 s at 29.97


def keyframe_times(path: Path) -> list[float]:
    cmd = ["ffprobe", "-v", "error", "-select_streams", "v", "-skip_frame", "nokey"]
    cmd += ["-show_entries", "frame=pts_time", "-of", "csv=p=0", str(path)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60).stdout
    return [float(t.strip(",")) for t in out.split()]


def test_silent_source_renders_silent_and_says_so(tmp_path: Path) -> None:
    src = make_source(tmp_path / "mute.mp4", TALL, seconds=4.5, audio=False)
    with capture_logs() as logs:
        done = asyncio.run(
            Renderer(Encoder(preset="ultrafast")).render(src, tmp_path / "o.mp4", BUILTIN.default)
        )
    assert done.silent
    assert [s["codec_type"] for s in probe(done.path)["streams"]] == ["video"]
    assert any(e["event"] == "render_silent" for e in logs)
    keys = keyframe_times(done.path)  # a keyframe at least every 2 s
    assert keys[0] == 0 and len(keys) >= 3
    assert all(b - a <= 2.0 for a, b in zip(keys, [*keys[1:], 4.5], strict=True)), keys


def test_cut_outside_the_source_is_refused(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "c.mp4", seconds=1.0)
    renderer = Renderer(Encoder(preset="ultrafast"))
    for cut in (Cut(0.5, 3.0), Cut(0.8, 0.2)):
        with pytest.raises(InputError):
            asyncio.run(renderer.render(src, tmp_path / "o.mp4", BUILTIN.default, cut=cut))
    assert not (tmp_path / "o.mp4").exists()


def test_hardware_encoder_that_cannot_open_falls_back_to_libx264(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "c.mp4", seconds=0.5)
    renderer = Renderer(Encoder("h264_nvenc", "ultrafast"))
    with capture_logs() as logs:
        done = asyncio.run(
            renderer.render(src, tmp_path / "o.mp4", BUILTIN.default, cut=Cut(0, 0.4), key="k1")
        )
    assert done.encoder == "libx264" == renderer.encoder.name
    assert [e["encoder"] for e in logs if e["event"] == "render_encoder_fallback"] == ["h264_nvenc"]
    assert asyncio.run(rendered_key(done.path)) == "k1"
    assert float(probe(done.path)["format"]["duration"]) == pytest.approx(0.4, abs=0.1)


def test_render_layout_may_name_a_user_layout_and_a_bad_name_says_where_to_look(
    tmp_path: Path,
) -> None:
    """RENDER_LAYOUT is checked at settings load against built-ins + LAYOUTS_DIR."""
    folder = tmp_path / "layouts"
    folder.mkdir()
    user = json.loads((PACKAGE_LAYOUTS / "centered.json").read_text(encoding="utf-8"))
    user["name"] = "facecam"
    (folder / "facecam.json").write_text(json.dumps(user), encoding="utf-8")
    s = load_settings(None, {"LAYOUTS_DIR": str(folder), "RENDER_LAYOUT": "facecam"})
    assert s.render_layout == "facecam"
    assert Layouts.load(s.layouts_dir, s.render_layout).default.name == "facecam"
    assert load_settings(None, {"LAYOUTS_DIR": str(folder)}).render_layout == "centered"
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"LAYOUTS_DIR": str(folder), "RENDER_LAYOUT": "facecma"})
    message = str(err.value)
    assert "RENDER_LAYOUT" in message and "facecma" in message
    assert str(folder) in message and "facecam" in message and "centered" in message
    with pytest.raises(ConfigError, match="RENDER_LAYOUT"):
        load_settings(None, {"RENDER_LAYOUT": "facecam"})  # no LAYOUTS_DIR: not known


def test_a_queued_clip_whose_sidecar_names_a_layout_is_told_where_layouts_apply(
    tmp_path: Path,
) -> None:
    """Queued clips are posted as they are: a sidecar ``layout`` is refused (the clip waits,
    untouched) with where a layout does apply, not as an unknown platform name."""
    sidecar = tmp_path / "a.json"
    sidecar.write_text('{"layout": "centered", "title": "t"}', encoding="utf-8")
    with pytest.raises(InputError) as err:
        parse_sidecar(sidecar, {"youtube", "x"})
    message = str(err.value)
    assert "layout" in message and "clips.json" in message and "platforms" not in message


def test_audio_that_starts_late_is_padded_from_the_first_frame(tmp_path: Path) -> None:
    """A source whose sound starts 1 s after its picture: the short's audio track starts at
    0 with silence (it started ~1 s in, which some players and platforms play out of sync)."""
    source = tmp_path / "late.mp4"
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-itsoffset", "1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
         "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=2",
         "-map", "1:v", "-map", "0:a", "-c:v", "libx264", "-preset", "ultrafast",
         "-c:a", "aac", str(source)],
        check=True, timeout=120,
    )  # fmt: skip
    late = [s for s in probe(source)["streams"] if s["codec_type"] == "audio"]
    assert float(late[0]["start_time"]) > 0.5  # the source really starts its sound late
    out = tmp_path / "short.mp4"
    layout = Layouts.load(None, "centered").default
    asyncio.run(Renderer(Encoder(preset="ultrafast")).render(source, out, layout))
    (audio,) = [s for s in probe(out)["streams"] if s["codec_type"] == "audio"]
    assert float(audio["start_time"]) < 0.05
    assert float(audio["duration"]) > 1.9
