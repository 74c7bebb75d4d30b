"""Account resolution from folder layout, and symlink handling during scans."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atroposd.domain import ClipFiles
from atroposd.watch.roots import SYMLINK_OUTSIDE, Location, Rejected, Roots, valid_account
from atroposd.watch.scan import Scanner

UP = Path("/srv/upload_queue")
OUT = Path("/srv/out")


@pytest.fixture
def roots() -> Roots:
    return Roots(upload_folder=UP, out_root=OUT, default_account="main")


def test_a_file_directly_in_the_upload_folder_belongs_to_the_default_account(
    roots: Roots,
) -> None:
    assert roots.locate(UP / "clip.mp4") == Location(UP, "main")


def test_a_subfolder_of_the_upload_folder_names_the_account(roots: Roots) -> None:
    assert roots.locate(UP / "alice" / "clip.mp4") == Location(UP, "alice")
    assert roots.locate(UP / "alice" / "week1" / "day2" / "clip.mp4") == Location(UP, "alice")


def test_out_root_needs_account_and_project(roots: Roots) -> None:
    assert roots.locate(OUT / "bob" / "proj" / "clip.mp4") == Location(OUT, "bob")
    assert roots.locate(OUT / "bob" / "proj" / "clips" / "c.mp4") == Location(OUT, "bob")
    for path in (OUT / "clip.mp4", OUT / "bob" / "clip.mp4"):
        where = roots.locate(path)
        assert isinstance(where, Rejected)
        assert "project folder" in where.reason


@pytest.mark.parametrize("name", ["my account", "-bob", "_x", "über", "a" * 65, "trailing "])
def test_invalid_account_folders_are_rejected_with_the_name(roots: Roots, name: str) -> None:
    where = roots.locate(UP / name / "clip.mp4")
    assert isinstance(where, Rejected)
    assert repr(name) in where.reason
    assert isinstance(roots.locate(OUT / name / "proj" / "clip.mp4"), Rejected)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("alice", True),
        ("Alice.B_c-9", True),
        ("9", True),
        ("a" * 64, True),
        ("a" * 65, False),
        (".", False),
        ("..", False),
        ("...", False),
        (".alice", False),
        ("al ice", False),
        ("", False),
    ],
)
def test_valid_account(name: str, ok: bool) -> None:
    assert valid_account(name) is ok


def test_hidden_folders_and_foreign_paths_are_ignored(roots: Roots) -> None:
    assert roots.locate(UP / ".trash" / "clip.mp4") is None
    assert roots.locate(OUT / "bob" / ".cache" / "clip.mp4") is None
    assert roots.locate(Path("/elsewhere/clip.mp4")) is None
    assert roots.locate(UP) is None


def test_the_innermost_root_decides_when_roots_nest() -> None:
    roots = Roots(upload_folder=UP, out_root=UP / "out", default_account="main")
    assert roots.locate(UP / "out" / "bob" / "p" / "c.mp4") == Location(UP / "out", "bob")
    assert roots.locate(UP / "outx" / "c.mp4") == Location(UP, "outx")


def test_clip_files(roots: Roots) -> None:
    video = UP / "alice" / "sub" / "clip.mp4"
    clip = roots.clip_files(video, video.with_suffix(".txt"), None)
    assert clip == ClipFiles(video, video.with_suffix(".txt"), None, UP, "alice")
    assert clip.rel == "alice/sub/clip.mp4"
    assert roots.clip_files(UP / "a b" / "clip.mp4", UP / "a b" / "clip.txt", None) is None


def make_pair(folder: Path, stem: str = "clip") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.mp4").write_bytes(b"video")
    (folder / f"{stem}.txt").write_text("caption")
    return folder / f"{stem}.mp4"


@pytest.fixture
def disk(tmp_path: Path) -> tuple[Roots, Path, Path]:
    up, out = tmp_path / "upload_queue", tmp_path / "out"
    up.mkdir()
    out.mkdir()
    return Roots(upload_folder=up, out_root=out, default_account="main"), up, tmp_path


def test_scan_finds_pairs_and_reports_bad_account_folders(disk: tuple[Roots, Path, Path]) -> None:
    roots, up, _ = disk
    good = make_pair(up / "alice")
    bad = make_pair(up / "bad name")
    make_pair(up / ".hidden")
    (up / "alice" / ".clip2.mp4.XyZ123").write_bytes(b"partial")
    found = Scanner(roots).scan_all()
    assert set(found.states) == {good, good.with_suffix(".txt")}
    assert [p for p, _ in found.problems] == [bad]


def test_symlinked_file_pointing_outside_is_reported_not_used(
    disk: tuple[Roots, Path, Path],
) -> None:
    roots, up, tmp = disk
    outside = make_pair(tmp / "elsewhere")
    (up / "alice").mkdir()
    link = up / "alice" / "clip.mp4"
    link.symlink_to(outside)
    (up / "alice" / "clip.txt").write_text("caption")
    scanner = Scanner(roots)
    found = scanner.scan_all()
    assert found.problems == [(link, SYMLINK_OUTSIDE)]
    assert link not in found.states
    assert scanner.inspect(link).problems == [(link, SYMLINK_OUTSIDE)]


def test_symlinked_folder_pointing_outside_is_reported_not_entered(
    disk: tuple[Roots, Path, Path],
) -> None:
    roots, up, tmp = disk
    make_pair(tmp / "elsewhere" / "carol")
    link = up / "carol"
    link.symlink_to(tmp / "elsewhere" / "carol")
    found = Scanner(roots).scan_all()
    assert found.problems == [(link, SYMLINK_OUTSIDE)]
    assert found.states == {}


def test_symlink_inside_the_roots_is_followed_for_files_only(
    disk: tuple[Roots, Path, Path],
) -> None:
    roots, up, _ = disk
    real = make_pair(up / "alice")
    (up / "bob").mkdir()
    link = up / "bob" / "clip.mp4"
    link.symlink_to(real)
    (up / "dave").symlink_to(up / "alice")  # a folder link: its target is scanned anyway
    found = Scanner(roots).scan_all()
    assert found.problems == []
    assert found.states[link] == found.states[real]
    assert not any(p.is_relative_to(up / "dave") for p in found.states)


def test_dangling_symlink_counts_as_gone(disk: tuple[Roots, Path, Path]) -> None:
    roots, up, _ = disk
    link = up / "clip.mp4"
    link.symlink_to(up / "missing.mp4")
    assert Scanner(roots).scan_all().states == {link: None}


def test_inspect_a_folder_scans_it(disk: tuple[Roots, Path, Path]) -> None:
    roots, up, _ = disk
    video = make_pair(up / "erin" / "deep")
    found = Scanner(roots).inspect(up / "erin", is_dir=True)
    assert set(found.states) == {video, video.with_suffix(".txt")}
    assert found.states[video] is not None
    assert found.states[video].size == os.stat(video).st_size  # type: ignore[union-attr]
