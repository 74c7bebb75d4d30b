"""Each platform's verdict on a clip: as is, a variant (which and why), or refused (why)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from atroposd.pipeline.media import Action, judge
from atroposd.render.probe import MediaInfo, probe_file
from tests.media_clips import caps, long_clip
from tests.support import make_clip

CAPS = caps()
VERTICAL = MediaInfo(  # a 1080x1920 render as the layouts make them
    container="mp4",
    video_codec="h264",
    profile="High",
    pix_fmt="yuv420p",
    bit_depth=8,
    chroma="420",
    width=1080,
    height=1920,
    rotation=0,
    fps=30.0,
    duration_s=30.0,
    size=20_000_000,
    bit_rate=5_000_000,
    audio_codec="aac",
    audio_channels=2,
    audio_rate=48000,
    faststart=True,
)


def verdicts(info: MediaInfo) -> dict[str, Action]:
    return {name: judge(info, c, name).action for name, c in CAPS.items()}


def test_every_platform_declares_its_limits_and_a_label() -> None:
    assert sorted(CAPS) == ["facebook", "instagram", "snapchat", "tiktok", "x", "youtube"]
    assert {c.label for c in CAPS.values()} == {
        "YouTube",
        "Instagram",
        "Facebook",
        "TikTok",
        "Snapchat",
        "X",
    }
    assert CAPS["snapchat"].max_duration_s == 60.0


@pytest.mark.parametrize("seconds", [1.0, 2.0])
def test_ordinary_test_clips_go_to_every_platform_untouched(tmp_path: Path, seconds: float) -> None:
    """tests.support.make_clip's clips (what every other test posts) never start a transcode."""
    info = probe_file(make_clip(tmp_path / "c.mp4", seconds=seconds, seed=1, bitrate="1M"))
    assert set(verdicts(info).values()) == {Action.AS_IS}


def test_a_1080p_render_fits_all_but_x_which_gets_720p() -> None:
    assert verdicts(VERTICAL) == {
        **dict.fromkeys(CAPS, Action.AS_IS),
        "x": Action.TRANSCODE,
    }
    verdict = judge(VERTICAL, CAPS["x"], "x")
    assert verdict.profile is not None and verdict.profile.key == "h264-720x1280-copy"
    assert verdict.reasons == (
        "resolution 1080x1920 is above X's maximum (long side 1280, short side 1024)",
    )


def test_10_bit_hevc_4k() -> None:
    hevc = replace(
        VERTICAL,
        video_codec="hevc",
        profile="Main 10",
        pix_fmt="yuv420p10le",
        bit_depth=10,
        width=3840,
        height=2160,
    )
    got = {n: judge(hevc, c, n) for n, c in CAPS.items()}
    assert {n for n, v in got.items() if v.action is Action.AS_IS} == {
        "youtube",
        "tiktok",
        "facebook",
    }
    keys = {n: v.profile.key for n, v in got.items() if v.profile is not None}
    assert keys == {
        "instagram": "h264-1920x1080-copy",  # shared: one transcode for both
        "snapchat": "h264-1920x1080-copy",
        "x": "h264-1280x720-copy",
    }
    assert "10-bit video is above Snapchat's 8-bit" in got["snapchat"].reasons
    assert "video codec hevc is not one X takes (h264)" in got["x"].reasons


def test_too_long_is_refused_with_the_measured_value_and_the_limit(tmp_path: Path) -> None:
    info = probe_file(long_clip(tmp_path / "long.mp4"))
    got = {n: judge(info, c, n) for n, c in CAPS.items()}
    assert {n for n, v in got.items() if v.action is not Action.AS_IS} == {"snapchat"}
    assert got["snapchat"].action is Action.REJECT
    assert (
        got["snapchat"].reasons[0].startswith("duration 61.0 s is above Snapchat's limit of 60 s")
    )
    longer = replace(info, duration_s=212.4)
    assert (
        judge(longer, CAPS["youtube"], "youtube")
        .reasons[0]
        .startswith("duration 212.4 s is above YouTube's limit of 180 s")
    )


def test_frame_rate_above_the_limit_is_halved() -> None:
    fast = replace(VERTICAL, fps=120.0)
    verdict = judge(fast, CAPS["tiktok"], "tiktok")
    assert verdict.action is Action.TRANSCODE and verdict.profile is not None
    assert verdict.profile.key == "h264-1080x1920-60fps-copy"
    assert verdict.reasons == ("frame rate 120 fps is above TikTok's limit of 60 fps",)
    assert judge(fast, CAPS["youtube"], "youtube").action is Action.AS_IS


def test_an_oversize_file_gets_a_bitrate_cap_under_the_limit() -> None:
    big = replace(VERTICAL, size=600_000_000, duration_s=120.0)
    verdict = judge(big, CAPS["x"], "x")
    assert verdict.profile is not None and verdict.profile.video_kbps is not None
    assert "size 600.0 MB is above X's limit of" in verdict.reasons[-1]
    kbps = verdict.profile.video_kbps + 128
    assert kbps * 1000 / 8 * 120 < CAPS["x"].max_bytes


def test_audio_and_container_alone_keep_the_picture() -> None:
    surround = replace(VERTICAL, audio_codec="opus", audio_channels=6)
    verdict = judge(surround, CAPS["instagram"], "instagram")
    assert verdict.profile is not None and verdict.profile.key == "copy-aac"
    assert verdict.reasons == (
        "audio codec opus is not one Instagram takes (aac)",
        "audio has 6 channels; Instagram takes at most 2",
    )
    mov = replace(VERTICAL, container="mov")
    assert judge(mov, CAPS["snapchat"], "snapchat").profile.key == "copy-copy"  # type: ignore[union-attr]
    late = replace(VERTICAL, faststart=False)
    assert verdicts(late) == {
        **dict.fromkeys(CAPS, Action.AS_IS),
        "instagram": Action.TRANSCODE,
        "x": Action.TRANSCODE,
    }


def test_a_shape_no_platform_box_fits_is_refused_not_padded() -> None:
    banner = replace(VERTICAL, width=1600, height=400)
    verdict = judge(banner, CAPS["x"], "x")
    assert verdict.action is Action.REJECT
    assert verdict.reasons[0].startswith("aspect ratio 1600:400 (4.000) is outside X's range")


def test_advisory_minimums_are_notes_not_refusals() -> None:
    short = replace(VERTICAL, duration_s=2.0, fps=15.0)
    verdict = judge(short, CAPS["snapchat"], "snapchat")
    assert verdict.action is Action.AS_IS
    assert verdict.notes[0].startswith("duration 2.0 s is below Snapchat's minimum of 5 s")


def test_instagram_audio_rate_and_video_bit_rate_and_x_he_aac_get_variants() -> None:
    """Documented limits a platform rejects on: Instagram's 48 kHz and 25 Mb/s, X's AAC-LC."""
    hi_rate = judge(replace(VERTICAL, audio_rate=96000), CAPS["instagram"], "instagram")
    assert hi_rate.action is Action.TRANSCODE and hi_rate.profile is not None
    assert hi_rate.profile.key == "copy-aac"  # the picture untouched, the sound at 48 kHz
    assert hi_rate.reasons == ("audio at 96000 Hz is above Instagram's 48000 Hz",)
    fat = judge(replace(VERTICAL, video_bit_rate=40_000_000), CAPS["instagram"], "instagram")
    assert fat.action is Action.TRANSCODE and fat.profile is not None
    assert fat.profile.video_kbps == 23000 and fat.profile.audio == "copy"
    assert judge(replace(VERTICAL, video_bit_rate=20_000_000), CAPS["instagram"], "x").action is (
        Action.AS_IS
    )
    he = replace(VERTICAL, width=720, height=1280, audio_profile="HE-AAC")
    got = judge(he, CAPS["x"], "x")
    assert got.action is Action.TRANSCODE and got.profile is not None
    assert (got.profile.key, got.reasons) == ("copy-aac", ("audio is HE-AAC; X takes AAC-LC only",))
    assert judge(replace(he, audio_profile="LC"), CAPS["x"], "x").action is Action.AS_IS
    assert judge(he, CAPS["tiktok"], "tiktok").action is Action.AS_IS  # no such rule there


def test_probe_reads_the_audio_profile_and_the_video_bit_rate(tmp_path: Path) -> None:
    info = probe_file(make_clip(tmp_path / "c.mp4", seconds=1.0, seed=1, bitrate="1M"))
    assert info.audio_profile == "LC"
    assert info.video_bit_rate is not None and 100_000 < info.video_bit_rate < 5_000_000
