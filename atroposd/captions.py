"""Titles and descriptions built from a caption file, within a platform's declared limits.

Pure: no I/O. A provider declares each text field as a ``TextLimit`` (``max_length`` counted
its platform's way: code points, UTF-8 bytes, UTF-16 units, or X's weighted length through the
kept port of twitter-text, where a URL counts 23 and CJK and emoji 2). Nothing here ever cuts
inside a grapheme cluster (``regex``'s ``\\X``: emoji ZWJ sequences, skin tones, flags, a letter
with its combining marks).

The caption rule (``derive_text``, docs/adr/0011-caption-building.md):

1. Forbidden characters are removed and the text is trimmed. The text is *prose* followed by
   its *hashtag block*: the run of hashtags that ends it (a hashtag line, or tags after the
   last word). A hashtag inside the prose is prose.
2. Caps: the block keeps at most ``max_hashtags`` minus the prose's own hashtags (whole ones,
   dropped from the end). More hashtags in the prose itself, or more @-mentions than
   ``max_mentions``, is an error: dropping words from the middle would change what it says.
3. A text that fits is used as it is.
4. Otherwise the prose is shortened first: cut after a whole word (or between two CJK
   characters), ending with "…"; never inside a grapheme, URL, @-mention or hashtag, and never
   before the end of its first sentence (the first line break, or ``. ! ? … ؟ ۔`` before a space,
   or ``。！？``). Hashtags are dropped, whole and from the end, only where keeping them would
   leave the prose less than half the limit or less than its first sentence.
5. Where even the first sentence and "…" alone do not fit, the caption cannot be shortened
   without losing its meaning: ``CaptionError``, naming the counted length and the limit. A
   text of hashtags only loses hashtags from the end; one hashtag over the limit is an error.

Overrides (``check``): a text written for one platform is validated, never changed: a
forbidden character, a length over the limit, or too many hashtags or mentions raise
``CaptionError``. Titles derived from the caption (``fit``) are summaries: cut at a word (at a
grapheme when one word is longer than the limit), with "…"; never an error.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from enum import StrEnum

import regex
from twitter_text import parse_tweet

ELLIPSIS = "…"
_URL = re.compile(r"https?://\S+")
_HASHTAG_LINE = re.compile(r"^(\s*#\w+)+\s*$")
_SKIP_PREFIXES = ("full video:", "made by atropos", "if you know any more creators")

_GRAPHEME = regex.compile(r"\X")
_PIECE = regex.compile(r"^\s+|\S+\s*")
_HASHTAG = regex.compile(r"(?<![\w#])#(\w+)")
_MENTION = regex.compile(r"(?<![\w@])@([\w.]+)")
_TOKEN = regex.compile(r"(?:https?://|www\.)\S+|(?<![\w#])#\w+|(?<![\w@])@[\w.]+")
_ENDS_WITH_URL = regex.compile(r"(?:https?://|www\.)\S+$")
_TRAILING_BLANKS = regex.compile(r"[^\S\n]+(?=\n)")
_BLOCK_TAG = regex.compile(r"#\w+[^\w\s#@]*")  # "#fun👍", "#clip." close a caption too
_WORD = regex.compile(r"\S+")
_WIDE = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\u3000-\u303f\uff00-\uffef]")
_WIDE_SENTENCE_END = frozenset("。！？")  # ends a sentence wherever it is
_SENTENCE_END = frozenset(".!?…‼⁇⁈⁉؟۔") | _WIDE_SENTENCE_END  # when a space follows
_GAP = regex.compile(r"\s+")


class Counting(StrEnum):
    """How a platform counts the length of a text field."""

    CHARS = "chars"  # Unicode code points
    UTF8_BYTES = "utf8_bytes"
    UTF16_UNITS = "utf16_units"
    X_WEIGHTED = "x_weighted"  # X's weighted length (twitter-text v3: URLs 23, CJK/emoji 2)


UNITS = {
    Counting.CHARS: "characters",
    Counting.UTF8_BYTES: "UTF-8 bytes",
    Counting.UTF16_UNITS: "UTF-16 units",
    Counting.X_WEIGHTED: "weighted characters",
}


@dataclass(frozen=True)
class TextLimit:
    """A length limit on one text field and the characters it forbids."""

    max_length: int
    counting: Counting = Counting.CHARS
    forbidden: str = ""
    word_boundary: bool = False
    max_hashtags: int | None = None  # e.g. Instagram: 30
    max_mentions: int | None = None  # e.g. Instagram: 20


class CaptionError(ValueError):
    """A text that breaks a limit and may not be cut; the message says by how much."""

    def __init__(self, message: str, *, length: int, limit: TextLimit) -> None:
        super().__init__(message)
        self.length = length  # counted the platform's way (``limit.counting``)
        self.limit = limit


def measure(text: str, counting: Counting) -> int:
    """Length of ``text`` as the platform counts it."""
    if counting is Counting.UTF8_BYTES:
        return len(text.encode("utf-8"))
    if counting is Counting.UTF16_UNITS:
        return len(text.encode("utf-16-le")) // 2
    if counting is Counting.X_WEIGHTED:
        return sum(_x_weight(piece) for piece in _PIECE.findall(text))
    return len(text)


@functools.lru_cache(maxsize=4096)
def _x_weight(piece: str) -> int:
    """twitter-text's weighted length of one word and the blanks after it.

    X's length is a sum of per-character, per-URL and per-emoji weights (multiples of its
    scale), and no URL or emoji spans a blank, so the sum over words is X's own count; it is
    taken word by word because twitter-text's emoji scan costs ~10 µs a character and cutting
    measures the same words many times.
    """
    return int(parse_tweet(piece).weightedLength)


def hashtags(text: str) -> list[str]:
    """The hashtags of ``text`` in order, without ``#`` (as platforms count them)."""
    return [str(tag) for tag in _HASHTAG.findall(text)]


def mentions(text: str) -> list[str]:
    """The @-mentions of ``text`` in order, without ``@``."""
    return [str(m).rstrip(".") for m in _MENTION.findall(text)]


def graphemes(text: str) -> list[str]:
    """The user-perceived characters of ``text`` (extended grapheme clusters)."""
    return [str(g) for g in _GRAPHEME.findall(text)]


def _strip_forbidden(text: str, forbidden: str) -> str:
    return text.translate({ord(c): None for c in forbidden}) if forbidden else text


def _starts(text: str) -> list[int]:
    """Offsets where a grapheme starts, then ``len(text)``: the places a cut may land."""
    return [int(m.start()) for m in _GRAPHEME.finditer(text)] + [len(text)]


def _cut_points(prose: str) -> tuple[list[int], int]:
    """Where prose may be cut (ascending), and where its first sentence ends."""
    inside: set[int] = set()
    for token in _TOKEN.finditer(prose):
        inside.update(range(token.start() + 1, token.end()))
    starts = _starts(prose)
    points: list[int] = []
    first = len(prose)
    for before, at in itertools.pairwise(starts[:-1]):
        prev, nxt = prose[before:at], prose[at]
        if at in inside or prev.isspace():
            continue
        if nxt.isspace():
            gap = _GAP.match(prose, at)
            ends = prev[0] in _SENTENCE_END or "\n" in gap.group()
        elif prev[0] in _WIDE_SENTENCE_END:
            ends = True
        elif _WIDE.match(prev) and _WIDE.match(nxt):
            ends = False
        else:
            continue
        points.append(at)
        if ends and first == len(prose):
            first = at
    return points, first


def _cut(text: str, limit: TextLimit, suffix: str) -> str:
    """Longest prefix of ``text`` ending on a grapheme (a word when asked) that fits with
    ``suffix``."""
    if measure(suffix, limit.counting) > limit.max_length:
        suffix = ""  # a limit smaller than the ellipsis itself
    budget = limit.max_length - measure(suffix, limit.counting)
    starts = _starts(text)
    lo, hi = 0, len(starts) - 1
    while lo < hi:  # binary search on grapheme boundaries; measure grows with the prefix
        mid = (lo + hi + 1) // 2
        if measure(text[: starts[mid]], limit.counting) <= budget:
            lo = mid
        else:
            hi = mid - 1
    end = starts[lo]
    if limit.word_boundary and end < len(text) and not text[end].isspace():
        words = [p for p in _cut_points(text)[0] if 0 < p <= end]
        end = words[-1] if words else end
    while end > 0 and measure(text[:end].rstrip() + suffix, limit.counting) > limit.max_length:
        end = max(s for s in starts if s < end)  # X's URLs: a shorter prefix can weigh more
    return text[:end].rstrip() + suffix


def fit(text: str, limit: TextLimit) -> str:
    """``text`` without forbidden characters, shortened to fit ``limit`` (never an error)."""
    text = _strip_forbidden(text, limit.forbidden).strip()
    if measure(text, limit.counting) <= limit.max_length:
        return text
    return _cut(text, limit, ELLIPSIS if limit.word_boundary else "")


def _split(text: str) -> tuple[str, str, str]:
    """(prose, separator, hashtag block): the block is the run of hashtags ending ``text``."""
    start = len(text)
    for word in reversed(list(_WORD.finditer(text))):
        if not _BLOCK_TAG.fullmatch(word.group()):
            break
        start = int(word.start())
    prose = text[:start].rstrip()
    return prose, text[len(prose) : start], text[start:]


def _with_ellipsis(head: str) -> str:
    """``head`` ending with "…", set apart from a URL it ends with (or it joins the link)."""
    head = head.rstrip()
    if head.endswith(ELLIPSIS):
        return head
    return head + (" " + ELLIPSIS if _ENDS_WITH_URL.search(head) else ELLIPSIS)


def _shorten(prose: str, points: list[int], floor: int, room: int, counting: Counting) -> str:
    """The longest cut of ``prose`` at a point >= ``floor`` that fits ``room`` with "…"."""
    candidates = [p for p in points if p >= floor]
    best, lo, hi = "", 0, len(candidates) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        cut = _with_ellipsis(prose[: candidates[mid]])
        if measure(cut, counting) <= room:
            best, lo = cut, mid + 1
        else:
            hi = mid - 1
    return best


class _Parts:
    """A caption taken apart for fitting: prose, separator, hashtag block and the caps."""

    def __init__(self, text: str, limit: TextLimit, strict: bool) -> None:
        self.text, self.limit = text, limit
        self.prose, self.sep, self.block = _split(text)
        self.tag_ends = [int(m.end()) for m in _WORD.finditer(self.block)]
        self.keep = len(self.tag_ends)
        if limit.max_hashtags is not None:
            inline = len(hashtags(self.prose))
            if strict and inline > limit.max_hashtags:
                self.error(
                    f"has {inline} hashtags in its text; at most {limit.max_hashtags} allowed"
                )
            self.keep = min(self.keep, max(0, limit.max_hashtags - inline))
        count = len(mentions(text))
        if strict and limit.max_mentions is not None and count > limit.max_mentions:
            self.error(f"has {count} @-mentions; at most {limit.max_mentions} allowed")

    def length(self, text: str) -> int:
        return measure(text, self.limit.counting)

    def tail(self, k: int) -> str:
        """Separator and the first ``k`` hashtags of the block, as written."""
        if k == 0:
            return ""
        tags = self.block[: self.tag_ends[k - 1]]
        return self.sep + tags if self.prose else tags

    def error(self, what: str) -> None:
        raise CaptionError(what, length=self.length(self.text), limit=self.limit)

    def too_long(self, why: str) -> None:
        length, limit = self.length(self.text), self.limit
        self.error(
            f"is {length} {UNITS[limit.counting]}, over the limit of {limit.max_length}, {why}"
        )


def _derive(text: str, limit: TextLimit, strict: bool) -> str:
    text = _strip_forbidden(text, limit.forbidden).strip()
    parts = _Parts(text, limit, strict)
    size = limit.max_length
    if parts.keep == len(parts.tag_ends) and parts.length(text) <= size:
        return text
    points, first = _cut_points(parts.prose)
    floor = first if strict else 0
    prose_length = parts.length(parts.prose)
    for k in range(parts.keep, -1, -1):
        if k == 0 and not parts.prose:
            break  # hashtags only, and not even the first one fits
        tail = parts.tail(k)
        tail_length = parts.length(tail)
        if prose_length + tail_length <= size and parts.length(parts.prose + tail) <= size:
            return parts.prose + tail
        if not parts.prose or (k and tail_length > size // 2):
            continue  # hashtags go before the prose would keep less than half the limit
        tail = str(_TRAILING_BLANKS.sub("", tail))  # "end. \n#tag" cut: no blank after "…"
        tail_length = parts.length(tail)
        cut = _shorten(parts.prose, points, floor, size - tail_length, limit.counting)
        if cut and parts.length(cut + tail) <= size:
            return cut + tail
    if not strict:
        return _cut(text, limit, ELLIPSIS)
    if not parts.prose and parts.keep == 0:
        parts.error(f"is only hashtags, and {limit.max_hashtags} of them are allowed")
    if not parts.prose:
        parts.too_long("and is only hashtags, the first of them longer than the limit")
    sentence = parts.length(_with_ellipsis(parts.prose[:first]))
    parts.too_long(
        "and cannot be shortened without losing its meaning: its first sentence (up to the "
        f"first line break or . ! ?) alone is {sentence} with the ellipsis"
    )
    raise AssertionError("unreachable")  # pragma: no cover - error() raises


def derive_text(caption: str, limit: TextLimit) -> str:
    """The caption fitted to ``limit`` by the caption rule (module docstring).

    Raises ``CaptionError`` where it cannot fit without losing its meaning.
    """
    return _derive(caption, limit, strict=True)


def fit_keeping_hashtags(text: str, limit: TextLimit) -> str:
    """The caption rule at best effort: never an error, the prose cut anywhere it must be."""
    return _derive(text, limit, strict=False)


def check(text: str, limit: TextLimit) -> str:
    """A text the user wrote for a platform, trimmed, or ``CaptionError``: never cut."""
    text = text.strip()
    length = measure(text, limit.counting)
    unit = UNITS[limit.counting]
    problems = []
    bad = sorted({c for c in text if c in limit.forbidden})
    if bad:
        problems.append(f"contains {' '.join(bad)}, which the platform does not allow")
    if length > limit.max_length:
        problems.append(f"is {length} {unit}, over the limit of {limit.max_length}")
    if limit.max_hashtags is not None and len(hashtags(text)) > limit.max_hashtags:
        problems.append(f"has {len(hashtags(text))} hashtags (at most {limit.max_hashtags})")
    if limit.max_mentions is not None and len(mentions(text)) > limit.max_mentions:
        problems.append(f"has {len(mentions(text))} @-mentions (at most {limit.max_mentions})")
    if problems:
        raise CaptionError("; ".join(problems), length=length, limit=limit)
    return text


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
