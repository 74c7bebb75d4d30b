"""Fixtures: small real MP4 files made once per session with ffmpeg's lavfi test source."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest


def _make_mp4(out: Path, *movflags: str) -> bytes:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "lavfi", "-i", "testsrc=size=160x284:rate=10", "-t", "1"]
    cmd += ["-pix_fmt", "yuv420p", *movflags, str(out)]
    subprocess.run(cmd, check=True, timeout=60)
    return out.read_bytes()


@pytest.fixture(scope="session")
def mp4_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mp4")


@pytest.fixture(scope="session")
def faststart_mp4(mp4_dir: Path) -> bytes:
    """A complete MP4 with the moov box before the media data."""
    return _make_mp4(mp4_dir / "faststart.mp4", "-movflags", "+faststart")


@pytest.fixture(scope="session")
def plain_mp4(mp4_dir: Path) -> bytes:
    """A complete MP4 with the moov box at the end (ffmpeg's default)."""
    return _make_mp4(mp4_dir / "plain.mp4")


@pytest.fixture(scope="session")
def fragmented_mp4(mp4_dir: Path) -> bytes:
    """A fragmented MP4 (empty moov, then moof/mdat pairs)."""
    return _make_mp4(mp4_dir / "frag.mp4", "-movflags", "+frag_keyframe+empty_moov")


@pytest.fixture(scope="session")
def frag_mp4(mp4_dir: Path) -> bytes:
    """A 4 s fragmented H.264/AAC MP4, one moof/mdat pair per second, ending in mfra."""
    from .fragmp4 import make_fragmented

    return make_fragmented(mp4_dir / "frag4.mp4")
