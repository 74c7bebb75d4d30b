"""``build_request``: every platform's title and description from the one caption file.

The sidecar is read by the intake's own ``parse_sidecar`` from a real file and stored as the
intake stores it; the platforms' limits are the ones their providers declare (providers.md).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from atroposd.captions import Counting, TextLimit, derive_text, measure
from atroposd.domain import Post, PostState
from atroposd.errors import CaptionRejected, InputError, PermanentError
from atroposd.pipeline.intake import parse_sidecar
from atroposd.pipeline.request import build_request
from atroposd.providers.base import Capabilities, UploadRequest
from atroposd.store.ledger import Drop

CAPS = {
    "youtube": Capabilities(
        title=TextLimit(100, Counting.CHARS, forbidden="<>", word_boundary=True),
        description=TextLimit(5000, Counting.UTF8_BYTES, forbidden="<>"),
        max_bytes=1 << 30,
    ),
    "instagram": Capabilities(
        title=None,
        description=TextLimit(2200, Counting.UTF16_UNITS, max_hashtags=30, max_mentions=20),
        max_bytes=1 << 30,
    ),
    "tiktok": Capabilities(
        title=None, description=TextLimit(2200, Counting.UTF16_UNITS), max_bytes=1 << 30
    ),
    "snapchat": Capabilities(
        title=TextLimit(100, Counting.CHARS), description=TextLimit(160), max_bytes=1 << 30
    ),
    "x": Capabilities(
        title=None, description=TextLimit(280, Counting.X_WEIGHTED), max_bytes=1 << 30
    ),
}
KNOWN = set(CAPS) | {"facebook"}
CAPTION = (
    "What a finish to the match!\n"
    "Full video: https://www.youtube.com/watch?v=abc\n"
    "Credit: Jane Doe — Match of the year\n\n"
    "#football #shorts"
)
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def post(platform: str, post_id: int = 7) -> Post:
    return Post(
        post_id, "ab" * 32, "default", platform, PostState.UPLOADING, 0, None, None,
        None, None, None, None, 0, NOW, NOW,
    )  # fmt: skip


def drop(tmp_path: Path, caption: str = CAPTION, sidecar: object | None = None) -> Drop:
    """A clip's files on disk; the sidecar parsed and stored the way the intake does it."""
    video = tmp_path / "match_day.mp4"
    video.write_bytes(b"\0" * 16)
    video.with_suffix(".txt").write_text(caption, encoding="utf-8")
    stored, side = None, None
    if sidecar is not None:
        side = video.with_suffix(".json")
        side.write_text(json.dumps(sidecar), encoding="utf-8")
        stored = parse_sidecar(side, KNOWN).model_dump_json()
    return Drop(video, video.with_suffix(".txt"), side, tmp_path, video.name, caption, stored)


def build(
    tmp_path: Path, platform: str, caption: str = CAPTION, sidecar: object = None
) -> UploadRequest:
    return build_request(post(platform), drop(tmp_path, caption, sidecar), 16, CAPS[platform], {})


def test_every_platform_builds_from_the_one_caption(tmp_path: Path) -> None:
    for platform, caps in CAPS.items():
        request = build(tmp_path, platform)
        assert request.description == derive_text(CAPTION, caps.description) == CAPTION
    assert build(tmp_path, "youtube").title == "What a finish to the match!"


def test_a_long_caption_is_cut_each_platform_its_own_way(tmp_path: Path) -> None:
    story = "Everyone in the stadium stood up. " * 12  # 408 characters
    caption = f"What a finish!\n{story}\n\n#football #shorts"
    got = {p: build(tmp_path, p, caption).description for p in ("x", "snapchat", "tiktok")}
    assert got["tiktok"] == caption  # 2,200 UTF-16 units: fits as it is
    for platform in ("x", "snapchat"):
        limit = CAPS[platform].description
        assert measure(got[platform], limit.counting) <= limit.max_length
        assert got[platform].startswith("What a finish!\nEveryone in the stadium stood up.")
        assert got[platform].endswith("…\n\n#football #shorts")  # prose cut, hashtags kept
    assert len(got["snapchat"]) < len(got["x"])


@pytest.mark.parametrize(
    ("platform", "block"),
    [("x", {"text": "Just for X"}), ("instagram", {"caption": "Just for IG"}),
     ("tiktok", {"caption": "Just for TikTok"}), ("youtube", {"description": "Just for YT"})],
)  # fmt: skip
def test_a_platform_block_overrides_the_text_by_its_own_name(
    tmp_path: Path, platform: str, block: dict[str, str]
) -> None:
    sidecar = {platform: block}
    assert build(tmp_path, platform, sidecar=sidecar).description == next(iter(block.values()))
    other = "snapchat"
    assert build(tmp_path, other, sidecar=sidecar).description == CAPTION  # others derive


def test_a_platform_block_wins_over_the_shared_text(tmp_path: Path) -> None:
    sidecar = {"description": "Shared text", "x": {"text": "X text"}}
    assert build(tmp_path, "x", sidecar=sidecar).description == "X text"
    assert build(tmp_path, "tiktok", sidecar=sidecar).description == "Shared text"


def test_youtube_title_override_wins_and_is_not_cut(tmp_path: Path) -> None:
    request = build(tmp_path, "youtube", sidecar={"youtube": {"title": "My own title"}})
    assert request.title == "My own title"
    with pytest.raises(CaptionRejected) as caught:
        build(tmp_path, "youtube", sidecar={"youtube": {"title": "t" * 101}})
    message = str(caught.value)
    assert "youtube title override is 101 characters, over the limit of 100" in message
    assert "never cut" in message and "match_day.json" in message
    assert isinstance(caught.value, PermanentError) and caught.value.platform == "youtube"


def test_a_shared_override_is_checked_for_each_platform(tmp_path: Path) -> None:
    sidecar = {"description": "日本の試合" * 40}  # 200 CJK characters: 400 weighted on X
    assert build(tmp_path, "youtube", sidecar=sidecar).description == "日本の試合" * 40
    with pytest.raises(CaptionRejected, match="x description override is 400 weighted"):
        build(tmp_path, "x", sidecar=sidecar)


def test_an_override_with_a_character_youtube_forbids_is_refused_not_changed(
    tmp_path: Path,
) -> None:
    with pytest.raises(CaptionRejected, match="contains < >"):
        build(tmp_path, "youtube", sidecar={"youtube": {"description": "Use <b> tags"}})


def test_a_caption_that_cannot_be_shortened_is_refused_naming_length_limit_and_way_out(
    tmp_path: Path,
) -> None:
    caption = "So here is the whole story of this clip in one long breath " * 6
    with pytest.raises(CaptionRejected) as caught:
        build(tmp_path, "x", caption)
    message = str(caught.value)
    assert message.startswith("x description is 353 weighted characters, over the limit of 280")
    assert "without losing its meaning" in message
    assert "match_day.txt" in message and "atroposd retry 7" in message
    assert '{"x": {"text": "…"}}' in message  # X's own word; SidecarModel takes it
    # The same caption goes to platforms with room for it.
    assert build(tmp_path, "tiktok", caption).description == caption.strip()


def test_instagram_more_than_30_hashtags_keeps_the_first_30(tmp_path: Path) -> None:
    tags = " ".join(f"#tag{i}" for i in range(34))
    request = build(tmp_path, "instagram", f"Caption\n{tags}")
    assert request.description == "Caption\n" + " ".join(f"#tag{i}" for i in range(30))


def test_a_derived_title_that_loses_every_character_falls_back_to_the_file_name(
    tmp_path: Path,
) -> None:
    assert build(tmp_path, "youtube", "<<>>\n#shorts").title == "match day"


def test_a_sidecar_naming_the_text_twice_is_a_broken_sidecar(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"match_day\.json: x: give one of description, text"):
        drop(tmp_path, sidecar={"x": {"description": "a", "text": "b"}})
    with pytest.raises(InputError, match=r"match_day\.json: give one of caption, text \("):
        drop(tmp_path, sidecar={"caption": "a", "text": "b"})


def test_a_sidecar_stored_before_the_aliases_still_builds(tmp_path: Path) -> None:
    d = drop(tmp_path)
    stored = json.dumps({"title": None, "description": "Old", "youtube": {"title": "T"}})
    old = Drop(d.video_path, d.caption_path, None, d.root, d.clip_rel, CAPTION, stored)
    request = build_request(post("youtube"), old, 16, CAPS["youtube"], {})
    assert (request.title, request.description) == ("T", "Old")


def test_an_x_account_with_long_posts_gets_its_own_weighted_limit(tmp_path: Path) -> None:
    story = "Everyone in the stadium stood up. " * 30  # 1,020 weighted characters
    caption = f"{story}\n#football"
    long_posts = {"max_weighted_length": 25_000}
    request = build_request(post("x"), drop(tmp_path, caption), 16, CAPS["x"], long_posts)
    assert request.description == caption.strip()
    standard = build_request(post("x"), drop(tmp_path, caption), 16, CAPS["x"], {})
    assert measure(standard.description, Counting.X_WEIGHTED) <= 280
    # An account option of that name changes nothing where text is not weighted the X way.
    snap = build_request(
        post("snapchat"), drop(tmp_path, caption), 16, CAPS["snapchat"], long_posts
    )
    assert len(snap.description) <= 160
