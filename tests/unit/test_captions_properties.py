"""Properties of caption building, for any caption and any limit (hypothesis).

Runs are bounded and derandomized (same examples every run, no example database), so the
suite stays fast and deterministic on a slow 2-CPU machine.
"""

from __future__ import annotations

from collections import Counter

import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from twitter_text import parse_tweet

from atroposd.captions import (
    ELLIPSIS,
    CaptionError,
    Counting,
    TextLimit,
    check,
    derive_text,
    fit,
    fit_keeping_hashtags,
    graphemes,
    hashtags,
    measure,
    mentions,
)

BOUNDED = settings(max_examples=150, deadline=None, derandomize=True, database=None)

WORDS = [
    "goal", "amazing", "Café", "naïve", "e\u0301te\u0301", "Tiê\u0301ng", "Zalgo\u0336\u0321",
    "日本語", "渋谷で", "みんな", "한국어", "مرحبا", "بكم", "שלום", "לכולם", "<b>", "x" * 30,
]  # fmt: skip
EMOJI = ["👨‍👩‍👧‍👦", "👍🏽", "👍🏿", "🇯🇵", "🇫🇷", "🏳️‍🌈", "😂", "1️⃣", "❤️"]
TOKENS = [
    "https://example.com/a", "https://youtu.be/dQw4w9WgXcQ?t=12", "example.org",
    "@alice", "@bob.smith", "#inline", "#日本",
]  # fmt: skip
PUNCTUATION = [".", "!", "?", ",", "—", "。", "！", "؟"]
SEPARATORS = [" ", " ", " ", "\n", "\n\n", ". ", "! ", "。", "\u00a0", "\t"]
TAGS = ["#shorts", "#fyp", "#café", "#日本", "#عربي", "#a1", "#withatropos", "#foryoupage"]

atom = st.sampled_from(WORDS + EMOJI + TOKENS + PUNCTUATION)
prose = st.lists(st.tuples(atom, st.sampled_from(SEPARATORS)), max_size=50).map(
    lambda pairs: "".join(a + s for a, s in pairs)
)
block = st.tuples(
    st.sampled_from(["\n\n", "\n", " "]), st.lists(st.sampled_from(TAGS), max_size=36)
).map(lambda b: b[0] + " ".join(b[1]) if b[1] else "")
captions = st.tuples(prose, block).map(lambda p: p[0] + p[1])
limits = st.builds(
    TextLimit,
    max_length=st.integers(8, 320),
    counting=st.sampled_from(list(Counting)),
    forbidden=st.sampled_from(["", "<>"]),
    max_hashtags=st.none() | st.integers(0, 30),
    max_mentions=st.none() | st.integers(0, 20),
)


def clean(text: str, limit: TextLimit) -> str:
    return text.translate({ord(c): None for c in limit.forbidden}).strip()


def prose_of(text: str) -> str:
    """``text`` without the run of hashtags that ends it."""
    end = len(text)
    for word in reversed(list(regex.finditer(r"\S+", text))):
        if not regex.fullmatch(r"#\w+", word.group()):
            break
        end = word.start()
    return text[:end]


def over_caps(text: str, limit: TextLimit, *, whole: bool = False) -> bool:
    """More mentions, or hashtags in the prose (in the whole text: ``whole``), than allowed."""
    tags = len(hashtags(text if whole else prose_of(text)))
    if limit.max_hashtags == 0 and hashtags(text) and not prose_of(text).strip():
        return True  # only hashtags, and none allowed
    return (limit.max_mentions is not None and len(mentions(text)) > limit.max_mentions) or (
        limit.max_hashtags is not None and tags > limit.max_hashtags
    )


def assert_whole(out: str, text: str) -> None:
    """``out`` is ``text``'s start at a grapheme boundary, "…", then whole hashtags of ``text``."""
    head, cut, tail = out.partition(ELLIPSIS)
    head = head.removesuffix(" ") if cut else head
    assert graphemes(text)[: len(graphemes(head))] == graphemes(head), "a grapheme was split"
    if cut:
        assert all(w.startswith("#") and w in text.split() for w in tail.split()), tail
    else:  # hashtags dropped only: a prefix of the text ending between words
        assert text.startswith(out) and text[len(out) : len(out) + 1] in ("", *" \n\t\u00a0")
    for name in (hashtags, mentions):
        assert not Counter(name(out)) - Counter(name(text)), f"a {name.__name__[:-1]} was cut"
    urls = regex.findall(r"https?://\S+", text)
    assert all(u in urls for u in regex.findall(r"https?://[^\s…]+", out)), "a URL was cut"


@BOUNDED
@given(captions, limits)
def test_derived_text_fits_keeps_graphemes_and_hashtags_whole_and_is_stable(
    text: str, limit: TextLimit
) -> None:
    try:
        out = derive_text(text, limit)
    except CaptionError as exc:  # only where it is over the limit or breaks a cap
        assert exc.length == measure(clean(text, limit), limit.counting)
        assert exc.length > limit.max_length or over_caps(text, limit), str(exc)
        return
    assert measure(out, limit.counting) <= limit.max_length
    assert not set(limit.forbidden) & set(out)
    if limit.max_hashtags is not None:
        assert len(hashtags(out)) <= limit.max_hashtags
    if limit.max_mentions is not None:
        assert len(mentions(out)) <= limit.max_mentions
    assert_whole(out, clean(text, limit))
    assert derive_text(text, limit) == out  # building twice gives the same text
    assert derive_text(out, limit) == out  # and what was built is built as it is


@BOUNDED
@given(captions, limits)
def test_best_effort_fitting_never_exceeds_the_limit(text: str, limit: TextLimit) -> None:
    for fitter in (fit, fit_keeping_hashtags):
        out = fitter(text, limit)
        assert measure(out, limit.counting) <= limit.max_length, fitter.__name__
        head = out[:-1].removesuffix(" ") if out.endswith(ELLIPSIS) else out
        base = clean(text, limit)
        assert graphemes(base)[: len(graphemes(head))] == graphemes(head) or ELLIPSIS in head


@BOUNDED
@given(captions, limits)
def test_a_title_never_splits_a_grapheme(text: str, limit: TextLimit) -> None:
    title_limit = TextLimit(limit.max_length, limit.counting, "<>", word_boundary=True)
    out = fit(text, title_limit)
    assert measure(out, limit.counting) <= limit.max_length
    head = out[:-1].removesuffix(" ") if out.endswith(ELLIPSIS) else out
    base = clean(text, title_limit)
    assert graphemes(base)[: len(graphemes(head))] == graphemes(head)


@BOUNDED
@given(captions, limits)
def test_an_override_is_kept_as_written_or_refused(text: str, limit: TextLimit) -> None:
    try:
        out = check(text, limit)
    except CaptionError as exc:
        refused = exc.length > limit.max_length or over_caps(text, limit, whole=True)
        assert refused or set(limit.forbidden) & set(text), str(exc)
        return
    assert out == text.strip()
    assert measure(out, limit.counting) <= limit.max_length


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from(WORDS + EMOJI + TOKENS + PUNCTUATION + SEPARATORS + ["\r\n", "\u3000"]),
        max_size=40,
    ).map("".join)
)
def test_x_weighted_length_is_twitter_texts_own(text: str) -> None:
    assert measure(text, Counting.X_WEIGHTED) == parse_tweet(text).weightedLength
