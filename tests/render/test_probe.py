"""ffprobe -> MediaInfo on real files; ffprobe's reason for what is not a video; the cache."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from atroposd.render.probe import MediaUnreadable, Prober, probe_file
from tests.media_clips import broken_movie, corrupt, hevc_10bit_4k
from tests.support import make_clip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="module")
def clip(folder: Path) -> Path:
    return make_clip(folder / "clip.mp4", seconds=1.0, seed=3)


def test_an_ordinary_test_clip(clip: Path) -> None:
    info = probe_file(clip)
    assert (info.container, info.video_codec, info.pix_fmt) == ("mp4", "h264", "yuv420p")
    assert (info.bit_depth, info.chroma, info.rotation) == (8, "420", 0)
    assert (info.width, info.height, info.display) == (180, 320, (180, 320))
    assert info.fps == 15.0
    assert 0.9 <= info.duration_s <= 1.1
    assert info.size == clip.stat().st_size
    assert (info.audio_codec, info.audio_channels) == ("aac", 1)
    assert info.faststart is True  # make_clip writes +faststart


def test_a_10_bit_hevc_4k_source(folder: Path) -> None:
    info = probe_file(hevc_10bit_4k(folder / "hevc.mp4"))
    assert (info.video_codec, info.profile, info.pix_fmt) == ("hevc", "Main 10", "yuv420p10le")
    assert (info.bit_depth, info.chroma) == (10, "420")
    assert info.display == (3840, 2160)
    assert (info.audio_codec, info.audio_channels, info.audio_rate) == ("aac", 2, 48000)
    assert info.faststart is False  # ffmpeg's default: moov at the end


def test_rotation_swaps_the_displayed_size(folder: Path, clip: Path) -> None:
    turned = folder / "turned.mp4"
    copy = ["-i", str(clip), "-c", "copy", "-metadata:s:v", "rotate=90", str(turned)]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *copy], check=True)
    info = probe_file(turned)
    assert (info.width, info.height) == (180, 320)
    assert info.rotation in (90, 270)
    assert info.display == (320, 180)


def test_a_corrupt_file_raises_ffprobes_reason(folder: Path) -> None:
    bad = corrupt(folder / "bad.mp4")
    with pytest.raises(MediaUnreadable) as err:
        probe_file(bad)
    assert "moov atom not found" in err.value.reason
    assert "0x" not in err.value.reason  # the [mov,mp4 @ 0x...] prefix is dropped
    assert str(bad) in str(err.value)


def test_a_movie_without_streams_says_what_ffprobe_said(folder: Path) -> None:
    with pytest.raises(MediaUnreadable) as err:
        probe_file(broken_movie(folder / "empty-movie.mp4"))
    assert err.value.reason == (
        "no video stream (ffprobe found none); ffprobe: Invalid mvhd time scale 0, defaulting to 1"
    )


def test_audio_alone_is_not_a_video(folder: Path) -> None:
    tone = folder / "tone.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "0.5", str(tone)],
        check=True,
    )
    with pytest.raises(MediaUnreadable, match="no video stream"):
        probe_file(tone)


def test_the_prober_runs_ffprobe_once_per_key_answers_and_failures_alike(
    folder: Path, clip: Path
) -> None:
    prober = Prober()
    bad = corrupt(folder / "bad2.mp4")

    async def main() -> None:
        first = await prober.probe(clip, "sha-a")
        assert await prober.probe(clip, "sha-a") is first
        for _ in range(2):
            with pytest.raises(MediaUnreadable):
                await prober.probe(bad, "sha-b")

    asyncio.run(main())
    assert prober.runs == 2


FFMPEG = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x64"]


def test_a_still_image_is_not_a_video(tmp_path: Path) -> None:
    """`atroposd probe photo.jpg` said 'transcode' for five platforms (a 0.04 s 'video')."""
    for name in ("photo.jpg", "photo.mp4"):  # by its name (image2) or sniffed (jpeg_pipe)
        image = tmp_path / name
        subprocess.run(
            [*FFMPEG, "-frames:v", "1", "-c:v", "mjpeg", "-f", "image2", str(image)],
            check=True,
        )
        with pytest.raises(MediaUnreadable) as err:
            probe_file(image)
        assert err.value.reason == "a still image (mjpeg), not a video"
