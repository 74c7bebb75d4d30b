"""Log redaction cost per line as tokens accumulate: the old per-token loop vs ours.

    python bench/redact.py [--tokens 0 1000 10000 50000] [--lines 2000]

For each token count N, N access tokens are "refreshed" over 20 logins (account, platform),
the way a daemon sees them over months (one per login per hour: 50,000 ≈ 3.5 months).

- old: the previous ``Redactor`` (every value ever added kept in a set; one ``in`` test and
  ``replace`` per value per string field of every log line), reproduced here as the baseline.
- ours: ``atroposd.log.Redactor`` fed through ``current((account, platform), ...)`` as
  ``app.RedactingStore`` does: it keeps the live tokens plus a bounded LRU of retired ones.
- ours, all kept: ``Redactor(recent=N)`` with every token kept, to show the matching itself
  is flat in the number of values (one compiled regex + dict, no per-value loop).

Per line = median µs of one structlog processor call on a typical 9-field event, over --lines
calls (200 for the old one from 10,000 tokens on: it takes 16 ms a line there).
"rebuild" = the one-off cost of the first line after the set of values changed.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atroposd.log import REDACTED, Redactor

LOGINS = 20
_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|fernet)", re.I)
_URL_SECRETS = re.compile(
    r"((?:access_token|refresh_token|client_secret|code|upload_id|key)=)[^&\s\"']+", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


class OldRedactor:
    """The redactor before this change (atroposd/log.py at 7f8e106), for the baseline."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str | None) -> None:
        self._values.update(v for v in values if v and len(v) >= 6)

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
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
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict


def token(n: int) -> str:
    """A Google-shaped access token (~180 characters, shared ``ya29.a0`` prefix)."""
    return f"ya29.a0AfB_{n:010d}" + "x7Kq-Zp_9" * 18


EVENT = {
    "event": "upload_done",
    "account": "default",
    "platform": "youtube",
    "clip": "2026-03-01/stream-highlights/clip-0042.mp4",
    "post_id": 4242,
    "remote_id": "dQw4w9WgXcQ",
    "url": "https://youtu.be/dQw4w9WgXcQ?si=abcdef",
    "bytes": 48_213_771,
    "note": "resumed from a saved session after the connection dropped at 62%",
}


def per_line(processor: Callable[..., Any], lines: int) -> tuple[float, float]:
    """(rebuild µs of the first call, median µs per call after it)."""
    t0 = time.perf_counter()
    processor(None, "info", dict(EVENT))
    first = (time.perf_counter() - t0) * 1e6
    samples = []
    for _ in range(lines):
        t0 = time.perf_counter()
        processor(None, "info", dict(EVENT))
        samples.append((time.perf_counter() - t0) * 1e6)
    return first, statistics.median(samples)


def check(old: OldRedactor, ours: Redactor, n: int) -> None:
    """Both redact the newest token; ours the live ones of every login."""
    if n == 0:
        return
    line = f"sent {token(n - 1)} ok"
    assert old.scrub(line) == ours.scrub(line) == f"sent {REDACTED} ok", "missed a live token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[0, 1000, 10000, 50000])
    parser.add_argument("--lines", type=int, default=2000)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; {args.lines} lines per cell; {LOGINS} logins")
    print(
        f"{'tokens seen':>11} | {'old kept':>8} {'old µs/line':>11} | "
        f"{'ours kept':>9} {'ours µs/line':>12} {'rebuild ms':>10} | "
        f"{'all kept µs/line':>16} {'rebuild ms':>10}"
    )
    for n in args.tokens:
        old, ours, all_kept = OldRedactor(), Redactor(), Redactor(recent=max(n, 1))
        for i in range(n):
            old.add(token(i))
            ours.current((f"acct{i % LOGINS}", "youtube"), token(i), f"1//refresh-{i % LOGINS}")
            all_kept.add(token(i))
        _, old_us = per_line(old, args.lines if n < 10_000 else 200)  # 16 ms a line at 50k
        ours_first, ours_us = per_line(ours, args.lines)
        all_first, all_us = per_line(all_kept, args.lines)
        check(old, ours, n)
        print(
            f"{n:>11} | {len(old._values):>8} {old_us:>11.1f} | "
            f"{ours.kept():>9} {ours_us:>12.1f} {ours_first / 1e3:>10.2f} | "
            f"{all_us:>16.1f} {all_first / 1e3:>10.2f}"
        )


if __name__ == "__main__":
    main()
