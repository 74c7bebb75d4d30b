"""The one retry policy: what happens after a provider error."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import ClassVar

from atroposd.errors import (
    AtroposError,
    AuthExpired,
    InputError,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    ReauthRequired,
    SessionLost,
    TransientError,
    Unreachable,
)


class Next(StrEnum):
    """What the pipeline does with the post."""

    RETRY = "retry"  # back to ready, due at retry_at
    PARK = "park"  # back to ready, due at the platform's reset time (does not count an attempt)
    FAIL = "fail"  # terminal
    ATTENTION = "attention"  # needs a human (re-login, unknown outcome)


@dataclass(frozen=True)
class Decision:
    """The policy's verdict and when the post is due again."""

    next: Next
    retry_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; the platform's own wait wins."""

    # 16 attempts with waits doubling from ~1 s to an hour: a retryable failure is given up
    # only after hours, never for a short network or API outage.
    base_seconds: float = 1.0
    cap_seconds: float = 3600.0
    max_attempts: int = 16
    MAX_ATTEMPTS_LIMIT: ClassVar[int] = 100  # beyond this a post would retry for weeks
    rng: random.Random = random.Random()  # noqa: RUF009 - replaceable for deterministic tests

    def __post_init__(self) -> None:
        if not 1 <= self.max_attempts <= self.MAX_ATTEMPTS_LIMIT:
            raise ValueError(f"max_attempts must be 1..{self.MAX_ATTEMPTS_LIMIT}")

    def backoff(self, attempt: int) -> float:
        """Seconds before attempt ``attempt + 1`` (attempt counts from 1)."""
        # The exponent is capped: 2.0 ** 1024 overflows, and a post offline for weeks gets there.
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** min(max(0, attempt - 1), 60))
        return min(self.cap_seconds, self.base_seconds / 2 + self.rng.uniform(0, ceiling))

    def decide(self, error: Exception, attempt: int, now: datetime) -> Decision:
        """Classify ``error`` after ``attempt`` consecutive failures."""
        if isinstance(error, QuotaExhausted):
            return Decision(
                Next.PARK,
                error.retry_at,
                f"quota reached, parked until {error.retry_at.isoformat()}",
            )
        if isinstance(error, ReauthRequired | OutcomeUnknown):
            return Decision(
                Next.ATTENTION,
                None,
                "needs attention: "
                + ("log in again" if isinstance(error, ReauthRequired) else "outcome unknown"),
            )
        if isinstance(error, InputError | FileNotFoundError):
            why = str(error) if isinstance(error, InputError) else "the video file is gone"
            # Putting the same bytes back (any name in the queue) re-arms the post by itself.
            return Decision(
                Next.ATTENTION,
                None,
                f"needs attention: {why}; put that version back to post it, "
                "or `atroposd cancel` this post if it is not wanted",
            )
        if isinstance(error, PermanentError):
            return Decision(Next.FAIL, None, "rejected, not retried")
        if not isinstance(error, AtroposError | OSError):
            # Not a platform's answer nor the OS's: a bug. Retrying could repeat a step that
            # committed, so a human looks (the traceback is in the log).
            return Decision(
                Next.ATTENTION,
                None,
                f"needs attention: unexpected {type(error).__name__} in atroposd "
                "(a bug; the traceback is in the log)",
            )
        retryable = isinstance(error, TransientError | SessionLost | AuthExpired | OSError)
        if not retryable and isinstance(error, ProviderError):
            return Decision(Next.FAIL, None, "not retryable")
        offline = isinstance(error, Unreachable)
        if attempt >= self.max_attempts and not offline:
            return Decision(Next.FAIL, None, f"gave up after {attempt} attempts")
        wait = self.backoff(attempt)
        if isinstance(error, TransientError) and error.retry_after is not None:
            wait = min(max(error.retry_after, 0.0), 24 * 3600.0)
        when = now + timedelta(seconds=wait)
        if offline:  # nothing reached the platform: never given up on, however long it takes
            return Decision(Next.RETRY, when, f"cannot reach the platform; trying in {wait:.0f}s")
        return Decision(Next.RETRY, when, f"retry {attempt + 1} in {wait:.1f}s")
