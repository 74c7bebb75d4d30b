"""Each built-in layout rendered from a generated source: pixels where the foreground, the
blurred background and each corner tile must be, and the container every platform accepts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from atroposd.render.graph import Encoder
from atroposd.render.layouts import Layouts
from atroposd.render.render import Rendered, Renderer
from tests.render.media import TALL, WIDE, frame_rgb, make_source, pixel, probe, top_boxes

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
DIM_BLUE = (0, 0, 140)  # blue at 55 %
FAST = Encoder(preset="ultrafast")  # the output profile is still checked below

# (x, y) on the 1080x1920 output -> the colour that must be there.
EXPECTED: dict[str, dict[tuple[int, int], tuple[int, int, int]]] = {
    "centered": {
        (540, 883): WHITE,  # source centre at 0.46 x height
        (60, 883): RED,  # the left part of the cropped 1366-px foreground
        (1000, 883): GREEN,  # ... and the right part
        (540, 520): BLUE,  # foreground, full brightness, just under its top edge (499)
        (540, 150): DIM_BLUE,  # background above
        (540, 1750): DIM_BLUE,  # background below
    },
    "left_aligned": {
        (60, 883): RED,
        (700, 883): WHITE,
        (1000, 883): BLUE,  # centered shows green here: the foreground starts at x = 0
        (540, 150): DIM_BLUE,
        (540, 1750): DIM_BLUE,
    },
    "no_zoom": {
        (540, 883): WHITE,
        (20, 883): RED,  # nothing cropped: both sides are there
        (1060, 883): GREEN,
        (540, 600): BLUE,  # 1080x608 foreground from y = 579
        (540, 300): DIM_BLUE,
        (540, 1750): DIM_BLUE,
    },
    "centered_with_corners": {
        (277, 165): RED,  # left tile: source columns 0-25 %, rows 40-65 %
        (803, 165): GREEN,  # right tile: columns 75-100 %
        (540, 400): DIM_BLUE,  # background between the tiles and the foreground
        (540, 883): WHITE,
        (60, 883): RED,
        (540, 1750): DIM_BLUE,
    },
}


def near(got: tuple[int, int, int], want: tuple[int, int, int], tol: int = 45) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(got, want, strict=True))


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("src") / "wide.mp4", WIDE)


def render(source: Path, out: Path, layout: str, renderer: Renderer | None = None) -> Rendered:
    layouts = Layouts.load(None, "centered")
    job = (renderer or Renderer(FAST)).render(source, out, layouts.get(layout, "test"))
    return asyncio.run(job)


def assert_container(path: Path) -> None:
    data = probe(path)
    video = [s for s in data["streams"] if s["codec_type"] == "video"]
    audio = [s for s in data["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and len(audio) == 1
    v, a = video[0], audio[0]
    assert (v["width"], v["height"]) == (1080, 1920)
    assert (v["codec_name"], v["profile"], v["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert v["r_frame_rate"] == v["avg_frame_rate"] == "24/1"  # constant, the source's rate
    assert (a["codec_name"], a["channels"]) == ("aac", 2)
    boxes = top_boxes(path)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart


@pytest.fixture(scope="module")
def frames(wide: Path) -> dict[str, bytes]:
    """Decoded frames of the renders, by layout (each layout rendered once per module)."""
    return {}


@pytest.mark.parametrize("layout", sorted(EXPECTED))
def test_layout_pixels_and_container(
    layout: str, wide: Path, tmp_path: Path, frames: dict[str, bytes]
) -> None:
    out = tmp_path / f"{layout}.mp4"
    done = render(wide, out, layout)
    assert done.path == out and not done.silent
    frame = frames[layout] = frame_rgb(out)
    wrong = {
        xy: pixel(frame, *xy) for xy, want in EXPECTED[layout].items()
        if not near(pixel(frame, *xy), want)
    }  # fmt: skip
    assert not wrong, f"{layout}: unexpected colours {wrong}"
    assert_container(out)


def test_background_is_blurred(wide: Path, tmp_path: Path, frames: dict[str, bytes]) -> None:
    # no_zoom leaves the background's blurred white box visible under the foreground (its
    # edge at y = 1209): a sharp edge would be either dim white or dim blue, not in between.
    if "no_zoom" not in frames:  # run alone
        render(wide, tmp_path / "nz.mp4", "no_zoom")
        frames["no_zoom"] = frame_rgb(tmp_path / "nz.mp4")
    frame = frames["no_zoom"]
    red = [pixel(frame, 540, y)[0] for y in (1200, 1209, 1219, 1240)]
    assert all(15 < r < 125 for r in red), red
    assert red == sorted(red, reverse=True)  # fading out


def test_vertical_source_fills_the_canvas_without_background(tmp_path: Path) -> None:
    tall = make_source(tmp_path / "tall.mp4", TALL)
    out = tmp_path / "v.mp4"
    render(tall, out, "centered_with_corners")
    frame = frame_rgb(out)
    assert near(pixel(frame, 100, 100), RED) and near(pixel(frame, 100, 1800), RED)
    assert near(pixel(frame, 980, 100), GREEN) and near(pixel(frame, 980, 1800), GREEN)
    assert_container(out)
