"""A clip's files keep one name in the archive, and a retry never drops a user's file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atroposd.domain import FileIdentity
from atroposd.pipeline.move import clear_files, place
from atroposd.store.ledger import Drop

SAME_TIMES = (1_700_000_000_000_000_000,) * 2  # copies made with times kept (rsync -a, cp -p)


def account_folder(root: Path, caption: str) -> Drop:
    """``root/a.mp4`` (the same bytes and times for every account) and its own caption."""
    root.mkdir()
    video = root / "a.mp4"
    video.write_bytes(b"V" * 5000)
    os.utime(video, ns=SAME_TIMES)
    (root / "a.txt").write_text(caption, encoding="utf-8")
    return Drop(video, root / "a.txt", None, root, "a.mp4", caption, None, FileIdentity.of(video))


def test_a_retry_never_deletes_a_caption_that_is_not_in_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "posted"
    alice = account_folder(tmp_path / "alice", "alice's words")
    bob = account_folder(tmp_path / "bob", "bob's words")
    assert clear_files(alice, archive, delete=False).failed is None
    # Bob's first attempt took index 1 (a.txt is alice's); the video went, then it stopped.
    os.rename(bob.video_path, archive / "a.1.mp4")
    done = clear_files(bob, archive, delete=False)
    assert done.failed is None, done.error
    assert (archive / "a.txt").read_text(encoding="utf-8") == "alice's words"
    assert (archive / "a.1.txt").read_text(encoding="utf-8") == "bob's words"
    assert not bob.caption_path.exists()


def test_placing_onto_a_different_file_fails_and_keeps_both(tmp_path: Path) -> None:
    source, target = tmp_path / "mine.txt", tmp_path / "theirs.txt"
    source.write_text("mine", encoding="utf-8")
    target.write_text("theirs", encoding="utf-8")
    with pytest.raises(FileExistsError):
        place(source, target)
    assert source.read_text(encoding="utf-8") == "mine"
    assert target.read_text(encoding="utf-8") == "theirs"
