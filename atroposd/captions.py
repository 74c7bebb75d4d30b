"""Titles and descriptions built from a caption file, within a platform's declared limits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from twitter_text import parse_tweet

ELLIPSIS = "…"
_URL = re.compile(r"https?://\S+")
_HASHTAG_LINE = re.compile(r"^(\s*#\w+)+\s*$")
_SKIP_PREFIXES = ("full video:", "made by atropos", "if you know any more creators")


class Counting(StrEnum):
    """How a platform counts the length of a text field."""

    CHARS = "chars"  # Unicode code points
    UTF8_BYTES = "utf8_bytes"
    UTF16_UNITS = "utf16_units"
    X_WEIGHTED = "x_weighted"  # X's weighted length (twitter-text v3: URLs 23, CJK/emoji 2)


@dataclass(frozen=True)
class TextLimit:
    """A length limit on one text field and the characters it forbids."""

    max_length: int
    counting: Counting = Counting.CHARS
    forbidden: str = ""
    word_boundary: bool = False
    max_hashtags: int | None = None  # e.g. Instagram: 30
    max_mentions: int | None = None  # e.g. Instagram: 20


def measure(text: str, counting: Counting) -> int:
    """Length of ``text`` as the platform counts it."""
    if counting is Counting.UTF8_BYTES:
        return len(text.encode("utf-8"))
    if counting is Counting.UTF16_UNITS:
        return len(text.encode("utf-16-le")) // 2
    if counting is Counting.X_WEIGHTED:
        return int(parse_tweet(text).weightedLength)
    return len(text)


_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_MENTION = re.compile(r"(?<![\w@])@([\w.]+)")


def hashtags(text: str) -> list[str]:
    """The hashtags of ``text`` in order, without ``#`` (as platforms count them)."""
    return _HASHTAG.findall(text)


def mentions(text: str) -> list[str]:
    """The @-mentions of ``text`` in order, without ``@``."""
    return [m.rstrip(".") for m in _MENTION.findall(text)]


def _strip_forbidden(text: str, forbidden: str) -> str:
    return text.translate({ord(c): None for c in forbidden}) if forbidden else text


def _cut(text: str, limit: TextLimit, suffix: str) -> str:
    """Longest prefix of ``text`` that, with ``suffix``, fits (at a space when asked)."""
    if measure(suffix, limit.counting) > limit.max_length:
        suffix = ""  # a limit smaller than the ellipsis itself
    budget = limit.max_length - measure(suffix, limit.counting)
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on code points; measure is monotonic in the prefix
        mid = (lo + hi + 1) // 2
        if measure(text[:mid], limit.counting) <= budget:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    if limit.word_boundary and lo < len(text) and not text[lo].isspace():
        space = head.rfind(" ")
        if space > 0:
            head = head[:space]
    return head.rstrip() + suffix


def fit(text: str, limit: TextLimit) -> str:
    """``text`` without forbidden characters, shortened to fit ``limit``."""
    text = _strip_forbidden(text, limit.forbidden).strip()
    if measure(text, limit.counting) <= limit.max_length:
        return text
    return _cut(text, limit, ELLIPSIS if limit.word_boundary else "")


def fit_keeping_hashtags(text: str, limit: TextLimit) -> str:
    """Like ``fit`` but a trailing hashtag line survives; the body is shortened instead."""
    text = _strip_forbidden(text, limit.forbidden).strip()
    if measure(text, limit.counting) <= limit.max_length:
        return text
    lines = text.splitlines()
    if len(lines) > 1 and _HASHTAG_LINE.match(lines[-1]):
        tail = "\n\n" + lines[-1].strip()
        if measure(tail, limit.counting) < limit.max_length // 2:
            body = "\n".join(lines[:-1]).rstrip()
            return _cut(body, limit, ELLIPSIS + tail)
    return _cut(text, limit, ELLIPSIS)


def derive_title(caption: str, fallback: str) -> str:
    """A human title: the caption's first line of prose, else its credit line, else ``fallback``.

    Skips link lines, hashtag-only lines and the boilerplate the Atropos pipeline writes.
    """
    credit: str | None = None
    for raw in caption.splitlines():
        line = raw.strip()
        low = line.lower()
        if not line or _HASHTAG_LINE.match(line) or low.startswith(_SKIP_PREFIXES):
            continue
        if _URL.fullmatch(line):
            continue
        if low.startswith("credit:"):
            credit = credit or line.split(":", 1)[1].strip()
            continue
        text = _URL.sub("", line).strip()
        if text:
            return text
    return credit or fallback
