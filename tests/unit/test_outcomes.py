"""``Outcomes``: what a failed attempt does to a post (the retry-policy table of
docs/architecture.md), the ``parked`` set, and the OK line, on a real ledger and a fake clock."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import structlog.testing

from atroposd.bus import Bus, PostDue
from atroposd.domain import Attention, Post, PostState
from atroposd.errors import (
    AuthExpired,
    InputError,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    SourceChanged,
    TransientError,
)
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.outcomes import Outcomes
from atroposd.pipeline.retry import RetryPolicy
from tests.unit.pipeline_support import Desk, desk, real_clip

S = PostState
T = TypeVar("T")
HOUR = 3600.0
MAX = RetryPolicy().max_attempts


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_clip(tmp_path_factory.mktemp("outcomes"))


@dataclass
class Book:
    """A ledger and the ``Outcomes`` of one daemon process over it."""

    d: Desk
    out: Outcomes
    bus: Bus
    archiver: Archiver

    def restart(self) -> Outcomes:
        """``Outcomes`` as a new process builds it: nothing remembered but the ledger."""
        self.archiver = Archiver(self.d.ledger, self.d.archive, delete=False)
        self.out = Outcomes(self.d.ledger, self.bus, self.d.clock, policy(), self.archiver)
        return self.out

    def in_state(self, name: str, state: PostState, attempts: int = 0) -> Post:
        """A YouTube post of a new clip, in ``state`` after ``attempts`` failed attempts."""
        [post] = self.d.plan(name, ("youtube",))
        path = {
            S.READY: (),
            S.UPLOADING: (S.UPLOADING,),
            S.PROCESSING: (S.UPLOADING, S.PROCESSING),
            S.PUBLISHING: (S.UPLOADING, S.PROCESSING, S.PUBLISHING),
        }[state]
        return self.d.put(post.id, *path, attempts=attempts)


def policy() -> RetryPolicy:
    return RetryPolicy(rng=random.Random(7))


@pytest.fixture
def book(tmp_path: Path, clip: Path) -> Iterator[Book]:
    with desk(tmp_path, clip) as d:
        archiver = Archiver(d.ledger, d.archive, delete=False)
        bus = Bus()
        yield Book(d, Outcomes(d.ledger, bus, d.clock, policy(), archiver), bus, archiver)


def on_loop(book: Book, work: Callable[[], T]) -> T:
    """Run ``work`` on an event loop (the wake-up timers and archiving need one)."""

    async def main() -> T:
        try:
            return work()
        finally:
            await book.archiver.drain()

    return asyncio.run(main())


# -- the retry-policy table ----------------------------------------------------------------

RETRY = "retry"  # back to ready, due after a backoff
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a quota reset, hours after the fake clock's now
Row = tuple[Exception, PostState, str | None, str | None]
TABLE: dict[str, Row] = {
    # error: (target state, retry_at, attention)
    "transient": (TransientError("HTTP 503"), S.READY, RETRY, None),
    "session lost": (SessionLost("gone"), S.READY, RETRY, None),
    "auth expired": (AuthExpired("401"), S.READY, RETRY, None),
    "os error": (OSError("EIO"), S.READY, RETRY, None),
    "rate limited": (RateLimited("429", retry_after=120.0), S.READY, "120s", None),
    "quota": (QuotaExhausted("quota", retry_at=AT), S.READY, "reset", None),
    "reauth": (ReauthRequired("revoked"), S.NEEDS_ATTENTION, None, Attention.LOGIN),
    "outcome unknown": (OutcomeUnknown("?"), S.NEEDS_ATTENTION, None, Attention.OUTCOME_UNKNOWN),
    "input": (InputError("bad caption"), S.NEEDS_ATTENTION, None, Attention.FILE),
    "source changed": (SourceChanged("rewritten"), S.NEEDS_ATTENTION, None, Attention.FILE),
    "file gone": (FileNotFoundError("x.mp4"), S.NEEDS_ATTENTION, None, Attention.FILE),
    "permanent": (PermanentError("invalid title"), S.FAILED, None, None),
    "not retryable": (ProviderError("HTTP 418"), S.FAILED, None, None),
    "bug": (KeyError("oops"), S.NEEDS_ATTENTION, None, Attention.BUG),
}


@pytest.mark.parametrize("case", sorted(TABLE))
def test_a_failed_upload_goes_where_the_retry_policy_table_says(book: Book, case: str) -> None:
    exc, target, when, attention = TABLE[case]
    post = book.in_state("clip", S.UPLOADING, attempts=3)
    now = book.d.clock.now()
    on_loop(book, lambda: book.out.failed(post, exc, S.UPLOADING, False))
    done = book.d.get(post.id)
    assert done.state is target
    assert done.attention == attention
    assert done.attempts == (3 if case == "quota" else 4)  # a quota park is not an attempt
    assert done.last_error == (str(exc) or type(exc).__name__)
    if when is None:
        assert done.retry_at is None
    elif when == "reset":
        assert done.retry_at == AT
    elif when == "120s":
        assert done.retry_at == now + timedelta(seconds=120)
    else:  # full jitter after the 4th failure: 0.5 s + up to 2**3 s
        assert done.retry_at is not None
        assert timedelta(seconds=0.5) <= done.retry_at - now <= timedelta(seconds=8.5)
    assert book.out.parked == ({post.id} if case == "quota" else set())


def test_each_failure_logs_one_err_line_with_the_platforms_words(book: Book) -> None:
    post = book.in_state("clip", S.UPLOADING)
    exc = PermanentError(
        "create: HTTP 400 invalidTitle",
        platform="youtube",
        code="invalidTitle",
        platform_message="The title is invalid.",
    )
    with structlog.testing.capture_logs() as logs:
        on_loop(book, lambda: book.out.failed(post, exc, S.UPLOADING, False))
    [err] = [e for e in logs if e["event"] == "ERR"]
    assert (err["code"], err["platform_message"]) == ("invalidTitle", "The title is invalid.")
    assert (err["clip"], err["platform"], err["attempts"]) == ("clip.mp4", "youtube", 1)
    assert err["next"] == "rejected, not retried"


def test_a_retryable_failure_gives_up_after_max_attempts(book: Book) -> None:
    post = book.in_state("clip", S.UPLOADING, attempts=MAX - 1)
    on_loop(book, lambda: book.out.failed(post, TransientError("HTTP 503"), S.UPLOADING, False))
    done = book.d.get(post.id)
    assert done.state is S.FAILED and done.attempts == MAX and done.retry_at is None
    assert f"gave up after {MAX} attempts" in (book.d.ledger.history(post.id)[-1][2] or "")


def test_an_attempt_that_moved_the_upload_forward_starts_the_count_again(book: Book) -> None:
    post = book.in_state("clip", S.UPLOADING, attempts=MAX - 1)
    on_loop(book, lambda: book.out.failed(post, TransientError("HTTP 503"), S.UPLOADING, True))
    done = book.d.get(post.id)
    assert done.state is S.READY and done.attempts == 1


def test_a_retried_post_is_rung_when_it_is_due(book: Book) -> None:
    post = book.in_state("clip", S.UPLOADING)

    async def main() -> PostDue:
        with book.bus.subscribe(PostDue) as due:
            book.out.failed(post, RateLimited("429", retry_after=0.0), S.UPLOADING, False)
            return await asyncio.wait_for(due.get(), 10)

    assert asyncio.run(main()) == PostDue(post.id)


# -- once the bytes are on the platform ----------------------------------------------------

STEP_ERRORS: dict[str, tuple[Exception, PostState | None, str | None]] = {
    # error: (where the post goes; None = stays in its step, due later)
    "transient": (TransientError("HTTP 503"), None, None),
    "os error": (OSError("EIO"), None, None),
    "not retryable": (ProviderError("HTTP 418"), None, None),
    "quota": (QuotaExhausted("quota", retry_at=AT), None, None),
    "permanent": (PermanentError("HTTP 400"), S.NEEDS_ATTENTION, Attention.STATUS),
    "reauth": (ReauthRequired("revoked"), S.NEEDS_ATTENTION, Attention.LOGIN),
    "bug": (ValueError("int('x')"), S.NEEDS_ATTENTION, Attention.BUG),
}


@pytest.mark.parametrize("step", [S.PROCESSING, S.PUBLISHING])
@pytest.mark.parametrize("case", sorted(STEP_ERRORS))
def test_an_uploaded_post_is_never_failed_for_a_status_or_publish_problem(
    book: Book, step: PostState, case: str
) -> None:
    exc, target, attention = STEP_ERRORS[case]
    post = book.in_state("clip", step, attempts=MAX)  # even after MAX_ATTEMPTS
    now = book.d.clock.now()
    on_loop(book, lambda: book.out.failed(post, exc, step, False))
    done = book.d.get(post.id)
    assert done.state is not S.FAILED
    assert done.state is (target or step)  # never back to ready: the platform is asked first
    assert done.attention == attention
    if target is None:
        assert done.retry_at is not None and done.retry_at > now
        if case != "quota":  # (a quota reset may rightly be waited for instead)
            assert done.retry_at - now <= timedelta(hours=1)  # asked again within the cap
    # A quota reset is waited for in the step, as a park (no attempt counted).
    assert book.out.parked == ({post.id} if case == "quota" else set())
    if case == "quota":
        assert done.retry_at == AT and done.attempts == post.attempts


# -- parked posts --------------------------------------------------------------------------


def parked(book: Book, name: str) -> Post:
    post = book.in_state(name, S.UPLOADING)
    book.out.failed(post, QuotaExhausted("quota", retry_at=AT), S.UPLOADING, False)
    assert post.id in book.out.parked
    return book.d.get(post.id)


LEAVE: dict[str, Callable[[Book, Post], Any]] = {
    "published": lambda b, p: b.out.published(b.d.put(p.id, S.UPLOADING, S.PUBLISHED)),
    "failed": lambda b, p: b.out.failed(
        b.d.put(p.id, S.UPLOADING), PermanentError("no"), S.UPLOADING, False
    ),
    "retried": lambda b, p: b.out.failed(
        b.d.put(p.id, S.UPLOADING), TransientError("503"), S.UPLOADING, False
    ),
    "stuck": lambda b, p: b.out.finish(
        b.d.put(p.id, S.UPLOADING, S.PROCESSING), S.NEEDS_ATTENTION, "stuck", "needs attention"
    ),
}


@pytest.mark.parametrize("way", sorted(LEAVE))
def test_a_post_that_leaves_its_quota_park_is_forgotten(book: Book, way: str) -> None:
    def work() -> None:
        post = parked(book, "clip")
        LEAVE[way](book, post)

    on_loop(book, work)
    assert book.out.parked == set()


def test_months_of_quota_parks_leave_nothing_behind(book: Book) -> None:
    def work() -> None:
        for day in range(30):
            post = parked(book, f"day{day}")
            book.d.clock.advance(24 * HOUR)
            LEAVE["published"](book, post)

    on_loop(book, work)
    assert book.out.parked == set()


# -- the OK line ---------------------------------------------------------------------------


def test_the_ok_line_counts_seconds_from_the_first_byte_even_after_a_restart(book: Book) -> None:
    post = book.in_state("clip", S.READY)
    book.d.clock.advance(5)  # waited in the queue: not counted
    book.d.put(post.id, S.UPLOADING)
    book.d.clock.advance(30)
    on_loop(book, lambda: book.out.failed(book.d.get(post.id), OSError("EIO"), S.UPLOADING, False))
    book.d.clock.advance(100)
    book.d.put(post.id, S.UPLOADING)
    book.d.clock.advance(12.5)
    book.d.put(post.id, S.PROCESSING)
    book.d.clock.advance(7.5)
    done = book.d.put(post.id, S.PUBLISHED)
    out = book.restart()  # the daemon was restarted while the video was processing
    with structlog.testing.capture_logs() as logs:
        on_loop(book, lambda: out.published(done))
    [ok] = [e for e in logs if e["event"] == "OK"]
    assert ok["seconds"] == 150.0
    assert (ok["post_id"], ok["platform"], ok["clip"]) == (post.id, "youtube", "clip.mp4")
    assert ok["bytes"] == done.bytes_sent and ok["remote_id"] == done.remote_id
