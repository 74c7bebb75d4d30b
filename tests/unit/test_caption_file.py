"""Caption files as users write them: read from real files, with one clear error when unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from atroposd.errors import InputError
from atroposd.pipeline.intake import CAPTION_MAX_BYTES, read_caption


@pytest.mark.parametrize("text", ["", " ", "\n\n", "\t \r\n ", "\ufeff  \n"])
def test_a_caption_of_only_whitespace_counts_as_missing(tmp_path: Path, text: str) -> None:
    path = tmp_path / "clip.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match="caption is empty") as info:
        read_caption(path)
    assert str(path) in str(info.value)


def test_a_huge_caption_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "clip.txt"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # a 50 MB "caption" (sparse, nothing to read)
    with pytest.raises(InputError, match="larger than 64 KiB") as info:
        read_caption(path)
    assert str(path) in str(info.value)


def test_a_caption_at_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "clip.txt"
    text = "é" * (CAPTION_MAX_BYTES // 2)  # two UTF-8 bytes each: exactly the cap
    path.write_text(text, encoding="utf-8")
    assert read_caption(path) == text
