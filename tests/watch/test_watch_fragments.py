"""mp4_check on real fragmented MP4 files: when does a fragmented file prove its own end?

A copy cut exactly after a moof/mdat pair tiles perfectly, so the top-level walk passes it
(the §4.8 trap). What the file itself can still tell: a trailing ``mfra`` (written last, at
close) proves the end; a ``mehd`` declares the full duration the fragments must cover;
without either the file is open-ended and only time (or the writer's close) can tell.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from atroposd.watch.mp4 import Mp4Check, mp4_check, mp4_problem

from .fragmp4 import FRAGMENTS, SECONDS, fragment_ends, top_boxes, with_mehd, without_mfra


def check(tmp_path: Path, data: bytes) -> Mp4Check:
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return mp4_check(path)


def test_the_fixture_has_the_layout_the_tests_assume(frag_mp4: bytes) -> None:
    kinds = [k for k, _, _ in top_boxes(frag_mp4)]
    assert kinds[:2] == ["ftyp", "moov"] and kinds[-1] == "mfra"
    assert kinds.count("moof") == kinds.count("mdat") == FRAGMENTS
    assert len(fragment_ends(frag_mp4)) == FRAGMENTS


def test_a_cut_at_a_fragment_boundary_passes_the_box_walk(tmp_path: Path, frag_mp4: bytes) -> None:
    """The trap itself: every box whole, moov and media present."""
    cut = fragment_ends(frag_mp4)[1]
    assert mp4_problem(_write(tmp_path, frag_mp4[:cut])) is None


def test_a_complete_file_ending_in_mfra_proves_its_end(tmp_path: Path, frag_mp4: bytes) -> None:
    assert check(tmp_path, frag_mp4) == Mp4Check(problem=None, open_ended=False)


@pytest.mark.parametrize("pairs", [1, 2, 3])
def test_cut_at_a_fragment_boundary_without_mehd_is_open_ended(
    tmp_path: Path, frag_mp4: bytes, pairs: int
) -> None:
    cut = fragment_ends(frag_mp4)[pairs - 1]
    assert check(tmp_path, frag_mp4[:cut]) == Mp4Check(problem=None, open_ended=True)


def test_complete_without_mfra_or_mehd_is_open_ended(tmp_path: Path, frag_mp4: bytes) -> None:
    """Nothing in the file says it is finished: the watcher must judge by time or events."""
    assert check(tmp_path, without_mfra(frag_mp4)) == Mp4Check(problem=None, open_ended=True)


def test_fragments_covering_mehd_prove_the_end(tmp_path: Path, frag_mp4: bytes) -> None:
    full = with_mehd(without_mfra(frag_mp4), SECONDS)
    assert check(tmp_path, full) == Mp4Check(problem=None, open_ended=False)


@pytest.mark.parametrize("pairs", [1, 2, 3])
def test_fragments_short_of_mehd_are_truncated(tmp_path: Path, frag_mp4: bytes, pairs: int) -> None:
    full = with_mehd(without_mfra(frag_mp4), SECONDS)
    got = check(tmp_path, full[: fragment_ends(full)[pairs - 1]])
    assert got.problem == (
        f"truncated: the fragments cover {pairs:.1f} s of the {SECONDS:.1f} s its mehd declares"
    )


def test_plain_and_faststart_files_are_not_fragmented(
    tmp_path: Path, plain_mp4: bytes, faststart_mp4: bytes
) -> None:
    for data in (plain_mp4, faststart_mp4):
        assert check(tmp_path, data) == Mp4Check(problem=None, open_ended=False)


def test_a_cut_inside_a_fragment_is_still_a_box_problem(tmp_path: Path, frag_mp4: bytes) -> None:
    cut = fragment_ends(frag_mp4)[1] + 100
    got = check(tmp_path, frag_mp4[:cut])
    assert got.problem is not None and got.problem.startswith("truncated: box 'moof'")


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "cut.mp4"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "moov_body",
    [
        b"",
        struct.pack(">I4s", 8, b"mvhd"),  # an empty full box
        struct.pack(">I4s", 8, b"mvex") + struct.pack(">I4s", 12, b"mehd") + b"\x01\x00\x00\x00",
        struct.pack(">I4s", 9999, b"trak"),  # claims more than its parent holds
    ],
)
def test_a_moov_that_cannot_be_parsed_proves_nothing(tmp_path: Path, moov_body: bytes) -> None:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    traf = box(b"traf", box(b"tfhd", b"\x00\x00\x00\x00" + b"\x00\x00\x00\x01"))
    data = (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")
        + box(b"moov", moov_body)
        + box(b"moof", traf)
        + box(b"mdat", b"\x00" * 16)
    )
    assert check(tmp_path, data) == Mp4Check(problem=None, open_ended=True)
