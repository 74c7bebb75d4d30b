"""Real-world captions through every platform's limit, counted the way that platform counts.

Limits as ``../shared/providers.md`` gives them (§1.4, §3.2, §4.3, §5.3, §6.3, §7.4) and as
the providers declare them. Each case states what the user sees: the text that goes, or the
error that stops the post before any request.
"""

from __future__ import annotations

import pytest

from atroposd.captions import (
    ELLIPSIS,
    CaptionError,
    Counting,
    TextLimit,
    check,
    derive_text,
    fit,
    graphemes,
    hashtags,
    measure,
    mentions,
)

YOUTUBE_TITLE = TextLimit(100, Counting.CHARS, forbidden="<>", word_boundary=True)
YOUTUBE_DESCRIPTION = TextLimit(5000, Counting.UTF8_BYTES, forbidden="<>")
INSTAGRAM = TextLimit(2200, Counting.CHARS, max_hashtags=30, max_mentions=20)
FACEBOOK = TextLimit(2200, Counting.UTF16_UNITS)
TIKTOK = TextLimit(2200, Counting.UTF16_UNITS)
SNAPCHAT = TextLimit(160, Counting.CHARS)
X = TextLimit(280, Counting.X_WEIGHTED)
PLATFORMS = {
    "youtube": YOUTUBE_DESCRIPTION,
    "instagram": INSTAGRAM,
    "facebook": FACEBOOK,
    "tiktok": TIKTOK,
    "snapchat": SNAPCHAT,
    "x": X,
}

ATROPOS_TAGS = "#ai #fyp #tech #viral #foryou #trending #rickastley #music #shorts #withatropos"
ATROPOS = (  # what the Atropos pipeline writes (original-system.md §1.2)
    "Full video: https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=123s\n\n"
    "Credit: Rick Astley — Never Gonna Give You Up (Official Video)\n"
    "Made by Atropos\n"
    "https://atropos-video.com\n"
    "If you know any more creators who don't do clips, leave them in the comments below!\n\n"
    + ATROPOS_TAGS
)
FAMILY = "👨‍👩‍👧‍👦"  # one grapheme, seven code points (ZWJ sequence)
EMOJI = (
    f"Family day {FAMILY} at the beach 🏖️ with the kids 👍🏽👍🏿 and our flags 🇯🇵🇫🇷🏳️‍🌈. "
    "Best day ever! 😂🔥 "
) * 12 + "\n#family #beach"
CJK = "今日は渋谷で撮影しました。みんなありがとう！また来週会いましょう。" * 8
CJK += "\n#日本 #渋谷 #東京"
ARABIC = "مرحبا بكم في قناتنا. شاهدوا الفيديو كاملا على الرابط في الوصف. " * 60 + "\n#عربي #فيديو"
HEBREW = "שלום לכולם! זה הסרטון החדש שלנו, תהנו ותשתפו עם החברים. " * 50 + "\n#ישראל #סרטון"
COMBINING = ("Cafe\u0301 na\u0131\u0308ve Tie\u0302\u0301ng Vie\u0323\u0302t. " * 40).strip()
URLS = "Sources: " + " ".join(f"https://example.com/article/{i}/{'x' * 60}" for i in range(9))
TAGS_35 = "Big match tonight!\n" + " ".join(f"#tag{i:02d}" for i in range(35))
MENTIONS_25 = "Thanks to " + " ".join(f"@creator{i}" for i in range(25)) + " for the collab!"
# One sentence of nine links is 827 characters: Snapchat's 160 would keep two of them.
TOO_LONG = {("urls", "snapchat")}
CORPUS = {
    "atropos": ATROPOS,
    "emoji": EMOJI,
    "cjk": CJK,
    "arabic": ARABIC,
    "hebrew": HEBREW,
    "combining": COMBINING,
    "urls": URLS,
    "tags35": TAGS_35,
}


def assert_intact(out: str, text: str, limit: TextLimit) -> None:
    """Within the limit; its prose a grapheme-exact prefix of the input; hashtags whole."""
    assert measure(out, limit.counting) <= limit.max_length
    head, _, tail = out.partition(ELLIPSIS)
    head = head.removesuffix(" ")
    assert graphemes(text)[: len(graphemes(head))] == graphemes(head)
    words = text.split()
    assert all(w in words for w in tail.split()), "a hashtag was cut"
    assert all(w.startswith("#") for w in tail.split())
    assert all(tag in hashtags(text) for tag in hashtags(out))
    if limit.max_hashtags is not None:
        assert len(hashtags(out)) <= limit.max_hashtags


@pytest.mark.parametrize("platform", list(PLATFORMS))
@pytest.mark.parametrize("name", list(CORPUS))
def test_every_real_world_caption_fits_every_platform_intact(platform: str, name: str) -> None:
    limit, text = PLATFORMS[platform], CORPUS[name]
    if (name, platform) in TOO_LONG:
        with pytest.raises(CaptionError, match="without losing its meaning"):
            derive_text(text, limit)
        return
    out = derive_text(text, limit)
    assert_intact(out, text, limit)
    assert derive_text(text, limit) == out  # the same every time
    assert derive_text(out, limit) == out  # what was built is left as it is


def test_x_keeps_the_atropos_caption_and_its_hashtags_cutting_the_last_sentence() -> None:
    out = derive_text(ATROPOS, X)
    assert measure(out, Counting.X_WEIGHTED) <= 280 < measure(ATROPOS, Counting.X_WEIGHTED)
    # Prose shortened before any hashtag goes: every hashtag stays, the prose ends in "…".
    assert out.endswith("…\n\n" + ATROPOS_TAGS)
    assert out.startswith("Full video: https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=123s\n\n")


def test_x_counts_every_url_as_23_so_long_links_fit() -> None:
    assert len(URLS) > 700
    assert measure(URLS, Counting.X_WEIGHTED) == 9 + 9 * 23 + 8
    assert derive_text(URLS, X) == URLS


def test_x_counts_cjk_and_emoji_as_two() -> None:
    assert measure("日本語", Counting.X_WEIGHTED) == 6
    assert measure(FAMILY, Counting.X_WEIGHTED) == 2  # a ZWJ sequence is one emoji
    assert measure("🇯🇵", Counting.X_WEIGHTED) == 2
    out = derive_text(CJK, X)
    assert measure(out, Counting.X_WEIGHTED) <= 280
    assert len(out) < 160  # CJK at weight 2: about 140 characters of prose
    assert out.endswith("…\n#日本 #渋谷 #東京")


def test_x_text_whose_first_sentence_is_over_the_limit_is_an_error_naming_both_lengths() -> None:
    text = "So here is the thing about this clip " * 10  # 370 characters, no sentence end
    with pytest.raises(CaptionError) as caught:
        derive_text(text, X)
    assert caught.value.length == measure(text.strip(), Counting.X_WEIGHTED) == 369
    assert caught.value.limit == X
    message = str(caught.value)
    assert "369 weighted characters" in message and "limit of 280" in message
    assert "without losing its meaning" in message


def test_emoji_sequences_flags_and_skin_tones_are_never_split() -> None:
    for limit in (TIKTOK, X, SNAPCHAT, TextLimit(200, Counting.UTF8_BYTES)):
        out = derive_text(EMOJI, limit)
        kept = set(graphemes(out))
        assert {"👍", "🇯", "🇫", "\u200d"}.isdisjoint(kept), (limit, out)
        assert_intact(out, EMOJI, limit)


def test_tiktok_counts_utf16_units_emoji_are_two() -> None:
    text = ("So funny 😂😂. " * 300).strip()  # 13 code points, 15 UTF-16 units each
    assert (len(text), measure(text, Counting.UTF16_UNITS)) == (3899, 4499)
    out = derive_text(text, TIKTOK)
    assert 2190 <= measure(out, Counting.UTF16_UNITS) <= 2200  # as much as fits
    assert len(out) < 1950  # counted in code points it would have kept ~250 more
    assert out.endswith(ELLIPSIS)


def test_youtube_description_counts_utf8_bytes_of_arabic() -> None:
    out = derive_text(ARABIC, YOUTUBE_DESCRIPTION)
    assert len(out.encode()) <= 5000 < len(ARABIC.encode())
    assert len(out) > 2400  # two bytes a letter: far fewer characters than 5000
    assert out.endswith("…\n#عربي #فيديو")


def test_hebrew_keeps_whole_words_and_its_hashtags_on_snapchat() -> None:
    out = derive_text(HEBREW, SNAPCHAT)
    assert len(out) <= 160
    assert out.endswith("…\n#ישראל #סרטון")
    head = out.removesuffix("…\n#ישראל #סרטון")
    assert HEBREW.startswith(head) and HEBREW[len(head)] == " "  # cut between words


def test_combining_marks_stay_with_their_letter() -> None:
    for limit in (SNAPCHAT, TextLimit(60, Counting.UTF8_BYTES), X):
        out = derive_text(COMBINING, limit)
        assert_intact(out, COMBINING, limit)
        assert not out.removesuffix(ELLIPSIS)[-1:].isspace()


def test_instagram_keeps_the_first_30_of_35_hashtags() -> None:
    out = derive_text(TAGS_35, INSTAGRAM)
    assert hashtags(out) == [f"tag{i:02d}" for i in range(30)]
    assert out.startswith("Big match tonight!\n#tag00 ")


def test_instagram_with_more_than_20_mentions_is_an_error() -> None:
    with pytest.raises(CaptionError, match="25 @-mentions; at most 20"):
        derive_text(MENTIONS_25, INSTAGRAM)
    assert derive_text(MENTIONS_25, TIKTOK) == MENTIONS_25  # TikTok declares no mention cap


def test_mentions_are_counted_without_a_trailing_full_stop() -> None:
    assert mentions("Thanks @alice and @bob.smith. Bye") == ["alice", "bob.smith"]


def test_snapchat_cuts_the_prose_but_keeps_the_first_sentence_and_some_hashtags() -> None:
    out = derive_text(ATROPOS, SNAPCHAT)
    assert len(out) <= 160
    assert out.startswith("Full video: https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=123s")
    assert ELLIPSIS in out
    kept = hashtags(out)
    assert kept and kept == hashtags(ATROPOS_TAGS)[: len(kept)]  # dropped from the end


def test_hashtags_go_from_the_end_only_when_the_prose_would_keep_less_than_half() -> None:
    limit = TextLimit(60, Counting.CHARS)
    text = "A short line of prose that runs on. And on and on here.\n#one #two #three #four #five"
    out = derive_text(text, limit)
    assert out == "A short line of prose that runs on.…\n#one #two #three #four"
    assert len(out.split("\n")[0]) >= 30  # the prose keeps at least half the limit


@pytest.mark.parametrize("tail", ["#fun👍 #clip", "#fun #clip.", "#fun! #clip"])
def test_a_tag_with_an_emoji_or_a_stop_after_it_still_closes_the_caption(tail: str) -> None:
    """Creators write ``#fun👍`` or end with ``#clip.``: those tags stay, the prose is cut."""
    text = "A line of prose that runs on. And on and on and on and on here.\n" + tail
    out = derive_text(text, TextLimit(60, Counting.CHARS))
    assert out == "A line of prose that runs on. And on and on and…\n" + tail


def test_hashtags_only_caption_drops_tags_from_the_end() -> None:
    text = " ".join(f"#tag{i}" for i in range(40))
    out = derive_text(text, SNAPCHAT)
    assert out == text[: len(out)] and text[len(out)] == " "
    with pytest.raises(CaptionError, match="only hashtags"):
        derive_text("#" + "a" * 200, SNAPCHAT)


def test_a_url_is_never_cut_and_the_ellipsis_stands_apart_from_it() -> None:
    text = "Full video: https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=123s\nMore words " * 3
    out = derive_text(text, TextLimit(66, Counting.CHARS))
    assert out == "Full video: https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=123s …"


def test_youtube_title_derived_is_cut_at_a_word_and_never_an_error() -> None:
    assert fit("x" * 300, YOUTUBE_TITLE) == "x" * 99 + ELLIPSIS
    title = fit(f"Family{FAMILY}" * 20, YOUTUBE_TITLE)  # one 260-character word
    assert len(title) <= 100 and title.endswith(ELLIPSIS)
    assert set(graphemes(title)) == {*"Family…", FAMILY}


def test_a_title_of_flags_is_cut_between_flags() -> None:
    out = fit("🇯🇵" * 60, TextLimit(11, Counting.CHARS))
    assert out == "🇯🇵" * 5  # ten code points; never a lone regional indicator


@pytest.mark.parametrize(
    ("limit", "text", "problem"),
    [
        (YOUTUBE_TITLE, "My <b>great</b> clip", "contains < >"),
        (YOUTUBE_TITLE, "t" * 101, "is 101 characters, over the limit of 100"),
        (X, "日本" * 71, "is 284 weighted characters, over the limit of 280"),
        (TIKTOK, "😂" * 1101, "is 2202 UTF-16 units, over the limit of 2200"),
        (YOUTUBE_DESCRIPTION, "é" * 2501, "is 5002 UTF-8 bytes, over the limit of 5000"),
        (INSTAGRAM, " ".join(f"#t{i}" for i in range(31)), "31 hashtags (at most 30)"),
        (INSTAGRAM, " ".join(f"@u{i}" for i in range(21)), "21 @-mentions (at most 20)"),
    ],
)
def test_an_override_is_validated_never_cut(limit: TextLimit, text: str, problem: str) -> None:
    with pytest.raises(CaptionError) as caught:
        check(text, limit)
    assert problem in str(caught.value)


def test_an_override_within_the_limit_goes_as_written() -> None:
    assert check("  " + "日本" * 70 + "\n", X) == "日本" * 70  # 280 weighted
    assert check("Exactly 100 " + "x" * 88, YOUTUBE_TITLE) == "Exactly 100 " + "x" * 88


def test_a_cjk_full_stop_ends_the_first_sentence_even_before_a_space() -> None:
    limit = TextLimit(14, Counting.CHARS)
    assert (
        derive_text("今日は渋谷。 明日は東京で会いましょう、みんな来てね", limit)
        == "今日は渋谷。 明日は東京で…"
    )
    with pytest.raises(CaptionError, match="first sentence"):
        derive_text("今日は渋谷 明日は東京で会いましょう、みんな来てね", limit)
