"""mp4_problem: a top-level box walk that tells complete movie files from cut ones."""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import pytest

from atroposd.watch.mp4 import mp4_problem


def boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level box type -> (offset, size) of a small, well-formed file."""
    out: dict[str, tuple[int, int]] = {}
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out[kind.decode()] = (pos, size)
        pos += size
    return out


def write(tmp_path: Path, data: bytes, name: str = "clip.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mov", "clip.m4v", "CLIP.MP4"])
def test_complete_files_pass(
    tmp_path: Path, name: str, faststart_mp4: bytes, plain_mp4: bytes, fragmented_mp4: bytes
) -> None:
    for data in (faststart_mp4, plain_mp4, fragmented_mp4):
        assert mp4_problem(write(tmp_path, data, name)) is None


def test_fixture_layouts_are_what_the_tests_assume(faststart_mp4: bytes, plain_mp4: bytes) -> None:
    assert boxes(faststart_mp4)["moov"][0] < boxes(faststart_mp4)["mdat"][0]
    assert boxes(plain_mp4)["moov"][0] > boxes(plain_mp4)["mdat"][0]


def test_empty_file(tmp_path: Path) -> None:
    assert mp4_problem(write(tmp_path, b"")) == "empty file"


@pytest.mark.parametrize(
    "data",
    [b"hello, this is a caption and not a video\n" * 20, bytes(range(256)) * 8, b"\x00" * 64],
)
def test_garbage_is_not_a_movie(tmp_path: Path, data: bytes) -> None:
    assert mp4_problem(write(tmp_path, data)) == "not an MP4/QuickTime file"


@pytest.mark.parametrize("layout", ["faststart", "plain"])
def test_truncated_mid_mdat(
    tmp_path: Path, layout: str, faststart_mp4: bytes, plain_mp4: bytes
) -> None:
    data = faststart_mp4 if layout == "faststart" else plain_mp4
    start, size = boxes(data)["mdat"]
    cut = start + size // 2
    why = mp4_problem(write(tmp_path, data[:cut]))
    assert why == f"truncated: box 'mdat' claims {size} bytes, only {cut - start} remain"


@pytest.mark.parametrize("layout", ["faststart", "plain"])
def test_truncated_mid_moov(
    tmp_path: Path, layout: str, faststart_mp4: bytes, plain_mp4: bytes
) -> None:
    data = faststart_mp4 if layout == "faststart" else plain_mp4
    start, size = boxes(data)["moov"]
    why = mp4_problem(write(tmp_path, data[: start + size - 1]))
    assert why is not None
    assert why.startswith("truncated: box 'moov' claims")


def test_cut_inside_a_box_header(tmp_path: Path, plain_mp4: bytes) -> None:
    start, _ = boxes(plain_mp4)["moov"]
    why = mp4_problem(write(tmp_path, plain_mp4[: start + 5]))
    assert why == "truncated: 5 trailing bytes after the last box"


def test_every_cut_point_is_caught(tmp_path: Path, faststart_mp4: bytes) -> None:
    path = tmp_path / "clip.mp4"
    for cut in range(1, len(faststart_mp4), 97):
        path.write_bytes(faststart_mp4[:cut])
        assert mp4_problem(path) is not None, cut


def test_moov_required(tmp_path: Path) -> None:
    data = FTYP + box(b"free", b"") + box(b"mdat", b"\x01" * 100)
    assert mp4_problem(write(tmp_path, data)) == "no moov box"


def test_media_data_required(tmp_path: Path) -> None:
    data = FTYP + box(b"moov", b"\x00" * 40)
    assert mp4_problem(write(tmp_path, data)) == "no media data (no mdat box)"


def test_size_zero_box_runs_to_end_of_file(tmp_path: Path) -> None:
    data = FTYP + box(b"moov", b"\x00" * 40) + struct.pack(">I4s", 0, b"mdat") + b"\x02" * 99
    assert mp4_problem(write(tmp_path, data)) is None


def test_box_smaller_than_its_header_is_corrupt(tmp_path: Path) -> None:
    data = FTYP + struct.pack(">I4s", 4, b"moov") + b"\x00" * 40
    assert (
        mp4_problem(write(tmp_path, data)) == "corrupt: box 'moov' at offset 28 has invalid size 4"
    )


def test_unreadable_header_after_the_first_box(tmp_path: Path) -> None:
    data = FTYP + b"\x00\x00\x00\x10\x01\x02\x03\x04" + b"\x00" * 8
    assert mp4_problem(write(tmp_path, data)) == "corrupt: unreadable box header at offset 28"


def test_largesize_box_is_walked_by_seeking_not_reading(tmp_path: Path) -> None:
    """A 5 GiB sparse mdat with a 64-bit size: judged in milliseconds, nothing read."""
    mdat_size = 5 * 2**30
    head = FTYP + box(b"moov", b"\x00" * 40) + struct.pack(">I4sQ", 1, b"mdat", mdat_size)
    path = tmp_path / "big.mov"
    with path.open("wb") as f:
        f.write(head)
        f.truncate(len(head) - 16 + mdat_size)
    started = time.perf_counter()
    assert mp4_problem(path) is None
    assert time.perf_counter() - started < 0.5
    os.truncate(path, len(head) + 1000)
    why = mp4_problem(path)
    assert why == f"truncated: box 'mdat' claims {mdat_size} bytes, only 1016 remain"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        mp4_problem(tmp_path / "nope.mp4")
