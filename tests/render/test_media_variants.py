"""Variants: made once per (source, profile), shared, found again after a restart, guarded."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import structlog.testing

from atroposd.domain import FileIdentity
from atroposd.errors import SourceChanged
from atroposd.pipeline.media import MediaRejected
from atroposd.pipeline.variants import MediaCheck
from atroposd.providers.base import UploadRequest
from atroposd.render.probe import probe_file
from tests.media_clips import caps, hevc_10bit_4k, long_clip
from tests.support import sha256

CAPS = caps()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hevc_10bit_4k(tmp_path_factory.mktemp("variants") / "hevc.mp4")


def request_for(path: Path) -> UploadRequest:
    identity = FileIdentity.of(path)
    return UploadRequest(
        account="default",
        path=path,
        size=identity.size,
        sha256=sha256(path),
        title="t",
        description="d",
        identity=identity,
    )


async def fit_all(check: MediaCheck, request: UploadRequest) -> dict[str, UploadRequest]:
    names = sorted(CAPS)
    sent = await asyncio.gather(*(check.fit(request, n, CAPS[n]) for n in names))
    return dict(zip(names, sent, strict=True))


def test_variants_where_needed_shared_by_profile_and_kept_across_a_restart(
    tmp_path: Path, source: Path
) -> None:
    request = request_for(source)
    cache = tmp_path / "renders"
    check = MediaCheck(cache)
    sent = asyncio.run(fit_all(check, request))
    for name in ("youtube", "tiktok", "facebook"):  # untouched: the user's own file
        assert sent[name] == request, name
    assert sent["instagram"].path == sent["snapchat"].path  # one profile, one file
    assert sent["instagram"].sha256 == sent["snapchat"].sha256 == sha256(sent["snapchat"].path)
    assert check.transcodes == 2  # 1920x1080 (Instagram + Snapchat) and 1280x720 (X)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{request.sha256}.{key}.mp4" for key in ("h264-1920x1080-copy", "h264-1280x720-copy")
    )
    x = probe_file(sent["x"].path)
    assert (x.video_codec, x.profile, x.pix_fmt, x.display) == (
        "h264",
        "High",
        "yuv420p",
        (1280, 720),
    )
    assert (x.audio_codec, x.faststart) == ("aac", True)
    assert sent["x"].identity == FileIdentity.of(sent["x"].path)  # guards the variant's upload
    assert sent["x"].size == sent["x"].path.stat().st_size

    again = MediaCheck(cache)  # a new process: the cache is on disk
    resent = asyncio.run(fit_all(again, request))
    assert again.transcodes == 0
    assert resent == sent  # same paths, identities (inode, mtime) and hashes

    sent["x"].path.unlink()  # the cache deleted: made again, the same bytes (a resumed upload)
    third = MediaCheck(cache)
    remade = asyncio.run(third.fit(request, "x", CAPS["x"]))
    assert third.transcodes == 1
    assert remade.sha256 == sent["x"].sha256 and remade.path == sent["x"].path


def test_a_source_rewritten_after_planning_makes_no_variant(tmp_path: Path, source: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(source.read_bytes())
    request = request_for(clip)
    os.utime(clip, ns=(0, 0))  # re-exported (here: touched) after it was planned
    check = MediaCheck(tmp_path / "renders")
    with pytest.raises(SourceChanged):
        asyncio.run(check.fit(request, "x", CAPS["x"]))
    assert not (tmp_path / "renders").exists() or not list((tmp_path / "renders").iterdir())
    assert check.transcodes == 0


def test_too_long_is_refused_for_that_platform_only(tmp_path: Path) -> None:
    request = request_for(long_clip(tmp_path / "long.mp4"))
    check = MediaCheck(tmp_path / "renders")
    with pytest.raises(MediaRejected) as err:
        asyncio.run(check.fit(request, "snapchat", CAPS["snapchat"]))
    assert str(err.value).startswith("duration 61.0 s is above Snapchat's limit of 60 s")
    assert err.value.platform == "snapchat"
    assert asyncio.run(check.fit(request, "facebook", CAPS["facebook"])) == request
    assert check.transcodes == 0


def test_a_source_ffmpeg_cannot_decode_fails_that_platform_and_leaves_no_file(
    tmp_path: Path, source: Path
) -> None:
    """A truncated faststart file: ffprobe reads its header (1 s), ffmpeg fails on the data."""
    whole = tmp_path / "whole.mp4"
    args = ["-i", str(source), "-c", "copy", "-movflags", "+faststart", str(whole)]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    check = MediaCheck(tmp_path / "renders")
    with pytest.raises(MediaRejected) as err:
        asyncio.run(check.fit(request_for(cut), "x", CAPS["x"]))
    assert str(err.value).startswith("the h264-1280x720-copy variant could not be made: ffmpeg")
    assert err.value.code == "transcode"
    assert list((tmp_path / "renders").iterdir()) == []  # no partial variant, no temp file


def test_an_unreadable_variant_is_removed_retried_and_made_again(
    tmp_path: Path, source: Path
) -> None:
    """What a full disk leaves (ffmpeg 5.1 exits 0 when the trailer cannot be written): a cut
    variant under its final name. It must not fail the post for good nor stay in the cache."""
    request = request_for(source)
    check = MediaCheck(tmp_path / "renders")
    verdict = asyncio.run(check.verdict(request, "x", CAPS["x"]))
    assert verdict.profile is not None
    cut = check.variant_path(request.sha256, verdict.profile)
    cut.parent.mkdir(parents=True)
    cut.write_bytes(b"\0\0\0\x20ftypisom" + b"\0" * 4000)  # a header, no moov: ffprobe refuses
    with pytest.raises(OSError) as err:  # retried with backoff, not a failed / attention post
        asyncio.run(check.fit(request, "x", CAPS["x"]))
    assert not isinstance(err.value, MediaRejected | FileNotFoundError)
    assert "made again on the next attempt" in str(err.value)
    assert not cut.exists()
    sent = asyncio.run(check.fit(request, "x", CAPS["x"]))  # the next attempt
    assert sent.path == cut and probe_file(cut).display == (1280, 720)
    assert check.transcodes == 1


def test_a_96_khz_sound_gets_an_instagram_variant_with_the_picture_copied(tmp_path: Path) -> None:
    clip = tmp_path / "hi.mp4"
    video = ["-f", "lavfi", "-i", "testsrc2=size=108x192:rate=30", "-t", "1"]
    sound = ["-f", "lavfi", "-i", "sine=sample_rate=96000", "-t", "1"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *video, *sound, *codecs, "-movflags", "+faststart", clip],
        check=True,
    )
    check = MediaCheck(tmp_path / "renders")
    request = request_for(clip)
    sent = asyncio.run(check.fit(request, "instagram", CAPS["instagram"]))
    assert sent.path != clip and check.transcodes == 1
    got, source = probe_file(sent.path), probe_file(clip)
    assert (got.audio_codec, got.audio_rate) == ("aac", 48000)
    assert (got.video_codec, got.display, got.video_bit_rate) == (
        "h264",
        (108, 192),
        source.video_bit_rate,
    )
    assert asyncio.run(check.fit(request, "tiktok", CAPS["tiktok"])) == request


def test_the_cache_folder_removed_during_a_transcode_is_retried_not_a_lost_clip(
    tmp_path: Path,
) -> None:
    """Not 'the video file is gone' (needs_attention): the clip is there, the variant is redone."""
    clip = tmp_path / "c.mp4"  # 4:4:4 (X takes 4:2:0): a transcode of 1,800 tiny frames
    video = ["-f", "lavfi", "-i", "testsrc2=size=64x114:rate=60", "-t", "30"]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", *video, *codecs, clip], check=True)
    cache = tmp_path / "renders"
    check = MediaCheck(cache)
    request = request_for(clip)

    async def scenario() -> None:
        task = asyncio.create_task(check.fit(request, "x", CAPS["x"]))
        deadline = asyncio.get_running_loop().time() + 60
        while not (cache.is_dir() and any(cache.glob(".*.part.mp4"))):  # ffmpeg is writing
            assert asyncio.get_running_loop().time() < deadline and not task.done()
            await asyncio.sleep(0.005)
        shutil.rmtree(cache)
        with pytest.raises(OSError) as err:
            await task
        assert not isinstance(err.value, FileNotFoundError)  # = "the video file is gone"
        assert "made again next attempt" in str(err.value)

    asyncio.run(scenario())
    assert clip.exists()
    sent = asyncio.run(check.fit(request, "x", CAPS["x"]))  # the next attempt
    assert sent.path.parent == cache and probe_file(sent.path).pix_fmt == "yuv420p"


def test_variants_are_made_one_at_a_time(tmp_path: Path, source: Path) -> None:
    """Two profiles (X 720p, Instagram 1080p) of one 4K source: the second ffmpeg starts after
    the first is done (side by side they share the cores and both come late)."""
    request = request_for(source)
    check = MediaCheck(tmp_path / "renders")

    async def both() -> None:
        await asyncio.gather(
            check.fit(request, "x", CAPS["x"]), check.fit(request, "instagram", CAPS["instagram"])
        )

    with structlog.testing.capture_logs() as logs:
        asyncio.run(both())
    steps = [e["event"] for e in logs if e["event"].startswith("variant_transc")]
    assert steps == ["variant_transcoding", "variant_transcoded"] * 2
