"""structlog set-up: JSON lines off a TTY, a console format on one, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|fernet)", re.I)
_URL_SECRETS = re.compile(
    r"((?:access_token|refresh_token|client_secret|code|upload_id|key)=)[^&\s\"']+", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")
MIN_SECRET = 6  # shorter values are ignored: they would redact ordinary words
RECENT_SECRETS = 256  # retired values still redacted, e.g. an access token just refreshed
_PREFIX = 8  # candidates are found by a value's first characters (one compiled regex) ...
_KEY = 24  # ... and confirmed by a dict keyed on up to this many first characters


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex alternation of ``words`` shaped as a trie: a match costs ~one walk down it."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(root)


@dataclass(frozen=True)
class _Index:
    """The secret values compiled for matching; rebuilt only when the set of values changes."""

    pattern: re.Pattern[str] | None
    buckets: dict[str, tuple[str, ...]]  # value[:_KEY] -> values, longest first
    key_lengths: tuple[int, ...]  # distinct bucket key lengths, longest first

    @classmethod
    def of(cls, values: Iterable[str]) -> _Index:
        buckets: dict[str, list[str]] = {}
        for value in values:
            buckets.setdefault(value[:_KEY], []).append(value)
        if not buckets:
            return cls(None, {}, ())
        return cls(
            re.compile(_trie_pattern({key[:_PREFIX] for key in buckets})),
            {k: tuple(sorted(v, key=len, reverse=True)) for k, v in buckets.items()},
            tuple(sorted({len(k) for k in buckets}, reverse=True)),
        )

    def secret_at(self, text: str, at: int) -> int:
        """Length of the longest secret value starting at ``text[at]`` (0 for none)."""
        for length in self.key_lengths:
            for value in self.buckets.get(text[at : at + length], ()):
                if text.startswith(value, at):
                    return len(value)
        return 0

    def scrub(self, text: str) -> str:
        if self.pattern is None:
            return text
        parts: list[str] = []
        done = at = 0
        while (found := self.pattern.search(text, at)) is not None:
            start = found.start()
            length = self.secret_at(text, start)
            if not length:
                at = start + 1
                continue
            parts += [text[done:start], REDACTED]
            done = at = start + length
        return "".join([*parts, text[done:]]) if parts else text


class Redactor:
    """A structlog processor that removes known secret values and secret-looking fields.

    Bounded for months of uptime: it keeps the values that can still matter, not every token
    ever refreshed. ``pin`` keeps a value for good (settings secrets), ``current`` holds the
    live values of one key such as (account, platform) and retires the ones they replace,
    ``add`` remembers a value as recent. Retired and recent values share one LRU of
    ``recent`` entries. A value that falls out of it is still caught when it appears the way
    tokens travel (``Bearer …``, ``?access_token=…``, a field named like a secret).
    Matching is one compiled regex over the values' first characters, confirmed by a dict
    lookup, so a log line costs the same with 10 or 10,000 values kept.
    """

    def __init__(self, recent: int = RECENT_SECRETS) -> None:
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._current: dict[Hashable, frozenset[str]] = {}
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._capacity = recent
        self._index: _Index | None = _Index.of(())

    @staticmethod
    def _usable(values: Iterable[str | None]) -> frozenset[str]:
        return frozenset(v for v in values if v and len(v) >= MIN_SECRET)

    def _live(self, value: str) -> bool:
        return value in self._pinned or any(value in vs for vs in self._current.values())

    def _remember(self, value: str) -> None:
        """Put ``value`` first in the recent LRU; forget the oldest beyond capacity."""
        if value in self._recent:
            self._recent.move_to_end(value)
            return
        self._recent[value] = None
        self._index = None
        while len(self._recent) > self._capacity:
            self._recent.popitem(last=False)

    def pin(self, *values: str | None) -> None:
        """Secret values that are never forgotten (settings secrets, keys)."""
        with self._lock:
            new = self._usable(values) - self._pinned
            if new:
                self._pinned |= new
                self._index = None

    def current(self, key: Hashable, *values: str | None) -> None:
        """The live secret values of ``key``; values they replace are kept as recent."""
        with self._lock:
            new, old = self._usable(values), self._current.get(key, frozenset())
            if new == old:
                return
            self._current[key] = new
            for value in old - new:
                if not self._live(value):
                    self._remember(value)
            for value in new:
                self._recent.pop(value, None)
            self._index = None

    def add(self, *values: str | None) -> None:
        """Secret values to redact while they are recent (bounded; see the class docstring)."""
        with self._lock:
            for value in self._usable(values):
                if not self._live(value):
                    self._remember(value)

    def kept(self) -> int:
        """How many distinct secret values are matched now."""
        return len(self._values())

    def _values(self) -> set[str]:
        return self._pinned.union(*self._current.values(), self._recent)

    def _compiled(self) -> _Index:
        index = self._index
        if index is None:
            with self._lock:
                index = self._index = self._index or _Index.of(self._values())
        return index

    def scrub(self, text: str) -> str:
        """``text`` with every known secret and bearer/query token replaced."""
        text = self._compiled().scrub(text)
        text = _BEARER.sub(r"\1" + REDACTED, text)
        return _URL_SECRETS.sub(r"\1" + REDACTED, text)

    def _clean(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if _SECRET_KEYS.search(key) and value:
                return REDACTED
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict


def configure(
    redactor: Redactor,
    stream: TextIO | None = None,
    json_lines: bool | None = None,
    level: int = logging.INFO,
    extra: tuple[Any, ...] = (),
) -> None:
    """Route structlog (and stdlib logging) to ``stream`` as JSON or console lines.

    ``extra`` processors see each line before its traceback is formatted.
    """
    out = stream or sys.stdout
    if json_lines is None:
        json_lines = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            *extra,
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # httpx logs full URLs (query-string tokens included) at INFO: keep it quiet.
    for name in ("httpx", "httpcore", "apscheduler", "watchdog", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
