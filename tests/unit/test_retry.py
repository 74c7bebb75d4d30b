"""The one retry policy: each error class maps to retry, park, fail or attention."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from atroposd.errors import (
    AuthExpired,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.pipeline.retry import Next, RetryPolicy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def policy(seed: int = 7, **kw: float) -> RetryPolicy:
    return RetryPolicy(rng=random.Random(seed), **kw)  # type: ignore[arg-type]


def test_quota_exhausted_parks_until_its_retry_at() -> None:
    reset = NOW + timedelta(hours=11)
    d = policy().decide(QuotaExhausted("quota", retry_at=reset), 1, NOW)
    assert d.next is Next.PARK
    assert d.retry_at == reset


def test_quota_exhausted_parks_even_after_max_attempts() -> None:
    reset = NOW + timedelta(hours=1)
    d = policy().decide(QuotaExhausted("quota", retry_at=reset), 99, NOW)
    assert d.next is Next.PARK


@pytest.mark.parametrize("error", [ReauthRequired("revoked"), OutcomeUnknown("lost reply")])
def test_needs_a_human(error: ProviderError) -> None:
    d = policy().decide(error, 1, NOW)
    assert d.next is Next.ATTENTION
    assert d.retry_at is None


def test_permanent_error_fails() -> None:
    d = policy().decide(PermanentError("title invalid"), 1, NOW)
    assert d.next is Next.FAIL
    assert d.retry_at is None


def test_unclassified_provider_error_fails() -> None:
    assert policy().decide(ProviderError("odd"), 1, NOW).next is Next.FAIL


@pytest.mark.parametrize(
    "error",
    [TransientError("503"), SessionLost("gone"), AuthExpired("401"), RateLimited("429")],
)
def test_retryable_errors_retry_later(error: ProviderError) -> None:
    p = policy()
    d = p.decide(error, 1, NOW)
    assert d.next is Next.RETRY
    assert d.retry_at is not None
    assert d.retry_at > NOW
    assert d.retry_at - NOW <= timedelta(seconds=p.cap_seconds)


def test_network_os_error_retries() -> None:
    assert policy().decide(ConnectionResetError("reset"), 1, NOW).next is Next.RETRY


def test_backoff_is_deterministic_with_a_seeded_rng() -> None:
    a = [policy(3).decide(TransientError("x"), n, NOW).retry_at for n in range(1, 8)]
    b = [policy(3).decide(TransientError("x"), n, NOW).retry_at for n in range(1, 8)]
    assert a == b


def _waits(attempt: int, samples: int = 400, **kw: float) -> list[float]:
    p = policy(attempt, max_attempts=100, **kw)
    out = []
    for _ in range(samples):
        d = p.decide(TransientError("x"), attempt, NOW)
        assert d.next is Next.RETRY and d.retry_at is not None
        out.append((d.retry_at - NOW).total_seconds())
    return out


def test_backoff_grows_with_attempts() -> None:
    worst = [max(_waits(n)) for n in range(1, 8)]
    average = [sum(_waits(n)) / 400 for n in range(1, 8)]
    assert worst == sorted(worst), worst
    assert average == sorted(average), average
    assert average[-1] > 10 * average[0]


def test_backoff_first_attempt_is_short() -> None:
    assert max(_waits(1)) <= 2.0 * 1.5  # base 2 s: a few seconds at most


def test_backoff_never_exceeds_the_cap() -> None:
    cap = 60.0
    waits = [w for n in (10, 20, 40) for w in _waits(n, samples=2000, cap_seconds=cap)]
    assert max(waits) <= cap, f"max wait {max(waits):.3f}s exceeds cap {cap}s"
    assert max(waits) > cap * 0.9  # it does reach the cap region


def test_rate_limited_retry_after_is_exactly_the_wait() -> None:
    d = policy().decide(RateLimited("429", retry_after=37.0), 1, NOW)
    assert d.next is Next.RETRY
    assert d.retry_at == NOW + timedelta(seconds=37)


def test_transient_retry_after_zero_is_immediate_and_huge_is_bounded() -> None:
    assert policy().decide(RateLimited("x", retry_after=0.0), 1, NOW).retry_at == NOW
    d = policy().decide(RateLimited("x", retry_after=10 * 86400.0), 1, NOW)
    assert d.retry_at == NOW + timedelta(days=1)


@pytest.mark.parametrize(
    "error", [TransientError("x"), RateLimited("x", retry_after=1.0), AuthExpired("x")]
)
def test_max_attempts_reached_fails(error: ProviderError) -> None:
    p = policy(max_attempts=3)
    assert p.decide(error, 2, NOW).next is Next.RETRY
    d = p.decide(error, 3, NOW)
    assert d.next is Next.FAIL
    assert d.retry_at is None
    assert "3" in d.note


@pytest.mark.parametrize("attempt", [1_025, 10_000, 10**9])
def test_backoff_after_weeks_offline_stays_within_the_cap(attempt: int) -> None:
    policy = RetryPolicy(rng=random.Random(3))
    assert 0 < policy.backoff(attempt) <= policy.cap_seconds


@pytest.mark.parametrize("attempts", [0, 101, 10**6])
def test_max_attempts_is_bounded(attempts: int) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=attempts)


@pytest.mark.parametrize("error", [KeyError("id"), TypeError("x"), AttributeError("y")])
def test_an_unexpected_error_waits_for_a_human_instead_of_being_retried(
    error: Exception,
) -> None:
    decision = RetryPolicy().decide(error, 1, NOW)
    assert decision.next is Next.ATTENTION and decision.retry_at is None
    assert type(error).__name__ in decision.note and "bug" in decision.note
