"""Captions: measuring in each platform's counting, fitting within limits, deriving titles."""

from __future__ import annotations

import random

import pytest

from atroposd.captions import (
    ELLIPSIS,
    Counting,
    TextLimit,
    derive_title,
    fit,
    fit_keeping_hashtags,
    measure,
)

YT_TITLE = TextLimit(100, Counting.CHARS, forbidden="<>", word_boundary=True)
YT_DESCRIPTION = TextLimit(5000, Counting.UTF8_BYTES, forbidden="<>")


@pytest.mark.parametrize(
    ("text", "chars", "utf8", "utf16"),
    [
        ("", 0, 0, 0),
        ("abc", 3, 3, 3),
        ("é", 1, 2, 1),
        ("—", 1, 3, 1),
        ("😀", 1, 4, 2),  # outside the BMP: one code point, a surrogate pair in UTF-16
        ("a😀é—", 4, 1 + 4 + 2 + 3, 1 + 2 + 1 + 1),
        ("👍🏽", 2, 8, 4),  # emoji + skin-tone modifier: two code points
    ],
)
def test_measure_counts_each_way(text: str, chars: int, utf8: int, utf16: int) -> None:
    assert measure(text, Counting.CHARS) == chars
    assert measure(text, Counting.UTF8_BYTES) == utf8
    assert measure(text, Counting.UTF16_UNITS) == utf16


def test_fit_returns_short_text_unchanged_apart_from_strip() -> None:
    assert fit("  Hello world \n", YT_TITLE) == "Hello world"


def test_fit_removes_forbidden_characters_even_when_short() -> None:
    assert fit("a <b> c", YT_TITLE) == "a b c"
    assert fit("<<>>", YT_TITLE) == ""


def test_fit_cuts_title_at_a_word_boundary_with_ellipsis() -> None:
    words = " ".join(f"word{i:02d}" for i in range(30))  # 30 * 7 - 1 = 209 chars
    out = fit(words, YT_TITLE)
    assert len(out) <= 100
    assert out.endswith(ELLIPSIS)
    body = out.removesuffix(ELLIPSIS)
    assert words.startswith(body)
    # The cut lands between words: the kept text ends with a whole word.
    assert body.split(" ")[-1] in words.split(" ")
    assert not body.endswith(" ")


def test_fit_title_counts_characters_not_bytes() -> None:
    title = "é" * 100
    assert fit(title, YT_TITLE) == title  # 100 chars (200 bytes) is within a 100-char limit


def test_fit_description_counts_utf8_bytes_with_multibyte_text() -> None:
    text = ("Café — naïve 😀 " * 600).strip()
    out = fit(text, YT_DESCRIPTION)
    assert len(out.encode("utf-8")) <= 5000
    assert text.startswith(out)
    # It keeps as much as it can: within one character (and a stripped space) of the limit.
    assert len(out.encode("utf-8")) >= 4990


def test_fit_description_does_not_split_a_multibyte_character() -> None:
    text = "—" * 2000  # 6000 bytes
    out = fit(text, YT_DESCRIPTION)
    assert out == "—" * 1666  # 4998 bytes; a 1667th dash would be 5001
    out.encode("utf-8").decode("utf-8")


def test_fit_utf16_counts_emoji_as_two_units() -> None:
    limit = TextLimit(5, Counting.UTF16_UNITS)
    assert fit("😀😀😀", limit) == "😀😀"


def test_fit_forbidden_removed_before_measuring() -> None:
    limit = TextLimit(3, Counting.CHARS, forbidden="<>")
    assert fit("<a>bc", limit) == "abc"


def test_fit_single_long_word_is_cut_mid_word_within_limit() -> None:
    out = fit("x" * 300, YT_TITLE)
    assert len(out) == 100
    assert out == "x" * 99 + ELLIPSIS


def _random_text(rng: random.Random) -> str:
    alphabet = ["a", "Z", " ", " ", "\n", "é", "—", "😀", "<", ">", "#", "👍🏽", "中", "\t", "x"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))


@pytest.mark.parametrize("counting", list(Counting))
@pytest.mark.parametrize("word_boundary", [False, True])
def test_fit_never_exceeds_the_limit(counting: Counting, word_boundary: bool) -> None:
    """Property: for any text and any limit the ellipsis fits in, the output fits."""
    rng = random.Random(f"{counting}-{word_boundary}")
    failures = []
    for _ in range(500):
        text = _random_text(rng)
        size = rng.randint(measure(ELLIPSIS, counting), 80)
        limit = TextLimit(size, counting, forbidden="<>", word_boundary=word_boundary)
        for fitter in (fit, fit_keeping_hashtags):
            out = fitter(text, limit)
            if measure(out, counting) > limit.max_length or "<" in out or ">" in out:
                failures.append((fitter.__name__, text, limit.max_length, out))
    assert not failures, f"{len(failures)} outputs over the limit, e.g. {failures[:3]}"


@pytest.mark.parametrize("counting", list(Counting))
def test_fit_never_exceeds_realistic_limits(counting: Counting) -> None:
    """Limits of at least a few units, as platforms declare them."""
    rng = random.Random(str(counting))
    for _ in range(500):
        text = _random_text(rng) * rng.randint(1, 5)
        limit = TextLimit(rng.randint(4, 200), counting, forbidden="<>", word_boundary=True)
        for fitter in (fit, fit_keeping_hashtags):
            out = fitter(text, limit)
            assert measure(out, counting) <= limit.max_length, (fitter.__name__, text, limit)


def test_fit_never_exceeds_a_limit_smaller_than_the_ellipsis() -> None:
    """A 1- or 2-byte budget cannot hold "…" (3 bytes in UTF-8): the result must still fit."""
    over = []
    for fitter in (fit, fit_keeping_hashtags):
        for size in (1, 2):
            limit = TextLimit(size, Counting.UTF8_BYTES, word_boundary=True)
            out = fitter("abcdef ghijk", limit)
            if measure(out, Counting.UTF8_BYTES) > size:
                over.append(f"{fitter.__name__}(limit={size} bytes) -> {out!r}")
    assert not over, over


def test_fit_keeping_hashtags_keeps_the_trailing_hashtag_line() -> None:
    body = " ".join(["lorem ipsum dolor sit amet"] * 40)
    text = f"{body}\n#shorts #funny #cats"
    limit = TextLimit(200, Counting.CHARS)
    out = fit_keeping_hashtags(text, limit)
    assert len(out) <= 200
    assert out.endswith("\n#shorts #funny #cats")  # the hashtag line as written
    head = out.removesuffix("\n#shorts #funny #cats")
    assert head.endswith(ELLIPSIS)
    assert body.startswith(head.removesuffix(ELLIPSIS))


def test_fit_keeping_hashtags_in_utf8_bytes() -> None:
    text = "Crème brûlée — 😀 " * 500 + "\n#café #shorts"
    out = fit_keeping_hashtags(text, YT_DESCRIPTION)
    assert len(out.encode("utf-8")) <= 5000
    assert out.endswith("#café #shorts")


def test_fit_keeping_hashtags_plain_fit_when_short() -> None:
    text = "Short caption\n#tag"
    assert fit_keeping_hashtags(text, YT_DESCRIPTION) == text


def test_fit_keeping_hashtags_without_hashtag_line_cuts_with_ellipsis() -> None:
    text = "a" * 50
    out = fit_keeping_hashtags(text, TextLimit(10, Counting.CHARS))
    assert out == "a" * 9 + ELLIPSIS


def test_fit_keeping_hashtags_drops_an_oversized_hashtag_line() -> None:
    """A hashtag line longer than half the limit is not worth keeping whole."""
    text = "body text here\n" + " ".join(f"#tag{i}" for i in range(20))
    limit = TextLimit(40, Counting.CHARS)
    out = fit_keeping_hashtags(text, limit)
    assert len(out) <= 40
    assert out.startswith("body text here")


def test_derive_title_takes_first_prose_line() -> None:
    caption = "\n\nWhat a goal!\nSecond line\n#shorts"
    assert derive_title(caption, "fallback") == "What a goal!"


def test_derive_title_skips_links_hashtags_and_boilerplate() -> None:
    caption = (
        "Full video: https://youtu.be/abc\n"
        "#shorts #funny\n"
        "https://example.com/x\n"
        "Made by Atropos\n"
        "If you know any more creators, tell us\n"
        "The real title\n"
    )
    assert derive_title(caption, "fallback") == "The real title"


def test_derive_title_strips_inline_urls_from_the_line() -> None:
    title = derive_title("Watch this https://x.y/z now", "f")
    assert "https" not in title
    assert title.startswith("Watch this")
    assert title.endswith("now")


def test_derive_title_falls_back_to_credit_then_fallback() -> None:
    caption = "Full video: https://youtu.be/abc\nCredit: Jane Doe\n#shorts\nMade by Atropos"
    assert derive_title(caption, "clip-001") == "Jane Doe"
    assert derive_title("#shorts\nFull video: https://x.y\n", "clip-001") == "clip-001"
    assert derive_title("", "clip-001") == "clip-001"


def test_derive_title_prefers_prose_over_an_earlier_credit_line() -> None:
    assert derive_title("Credit: Jane\nActual prose", "f") == "Actual prose"


def test_derive_title_first_credit_wins() -> None:
    assert derive_title("Credit: Jane\nCredit: John\n#x", "f") == "Jane"
