"""What happens after an attempt: the ledger transition, the OK/ERR line, the next wake-up."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from atroposd.bus import Bus, PostChanged, PostDue
from atroposd.clock import Clock
from atroposd.domain import Attention, Post, PostState
from atroposd.errors import (
    AtroposError,
    InputError,
    OutcomeUnknown,
    PermanentError,
    ProviderError,
    ReauthRequired,
)
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.retry import Decision, Next, RetryPolicy
from atroposd.pipeline.tokens import alerts_for
from atroposd.store.ledger import Ledger

log = structlog.get_logger("atroposd")
S = PostState
TARGETS = {
    Next.RETRY: S.READY,
    Next.PARK: S.READY,
    Next.FAIL: S.FAILED,
    Next.ATTENTION: S.NEEDS_ATTENTION,
}


class Outcomes:
    """Records results and failures of posts; the one place that logs OK and ERR."""

    def __init__(
        self, ledger: Ledger, bus: Bus, clock: Clock, policy: RetryPolicy, archiver: Archiver
    ) -> None:
        self._ledger = ledger
        self._bus = bus
        self._clock = clock
        self._policy = policy
        self._archiver = archiver
        self.parked: set[int] = set()  # posts waiting on a platform's quota reset

    def about(self, post: Post) -> dict[str, object]:
        """The fields every per-post log line carries."""
        return {
            "account": post.account,
            "platform": post.platform,
            "clip": self._ledger.drop_of(post.id).clip_rel,
            "post_id": post.id,
        }

    def changed(self, post: Post) -> None:
        """Ring the bus: the post has a new state."""
        self._bus.publish(PostChanged(post.id, post.state))

    def published(self, post: Post) -> None:
        """Log OK, then clear the clip's files if every platform is done."""
        self.parked.discard(post.id)
        alerts_for(self._ledger).ok(post.account, post.platform)  # the login works
        started = self._ledger.entered_at(post.id, S.UPLOADING, first=True)
        seconds = (self._clock.now() - started).total_seconds() if started is not None else None
        log.info(
            "OK",
            **self.about(post),
            remote_id=post.remote_id,
            url=post.url,
            bytes=post.bytes_sent,
            seconds=round(seconds, 3) if seconds is not None else None,
        )
        self.changed(post)
        self._archiver.maybe_clear(post.clip_sha256, post.account, post.id)

    def finish(
        self,
        post: Post,
        target: PostState,
        why: str,
        nxt: str,
        attention: Attention = Attention.NOT_LISTED,
    ) -> None:
        """End an uploaded post for a reason the platform gave (failed, not listed, stuck)."""
        self.parked.discard(post.id)
        done = self._ledger.transition(
            post.id,
            [post.state],
            target,
            note=why,
            last_error=why,
            attention=attention if target is S.NEEDS_ATTENTION else None,
        )
        if done is not None:
            self._err(done, why, None, None, nxt)
            self.changed(done)

    def _decide(self, exc: Exception, attempt: int, src: PostState) -> tuple[Decision, PostState]:
        decision = self._policy.decide(exc, attempt, self._clock.now())
        target = TARGETS[decision.next]
        if src not in (S.PROCESSING, S.PUBLISHING, S.SCHEDULED):
            return decision, target
        # The video is on the platform: never call it failed for a polling or publish problem,
        # and stay in the step, so the platform is asked before anything is sent again.
        if decision.next is Next.FAIL and isinstance(exc, PermanentError):
            return decision, S.NEEDS_ATTENTION
        if decision.next is Next.ATTENTION:
            return decision, target
        if decision.next is Next.PARK:  # quota: ask again once it resets, in the same step
            return decision, src
        # Bounded by the follower's processing deadline, not by an attempt count.
        wait = timedelta(seconds=self._policy.backoff(attempt))
        note = (
            "uploaded; publishing: no clear answer, the platform is asked again before "
            "anything is sent again"
            if src is S.PUBLISHING
            else "uploaded; status check failed, checking again later"
        )
        return Decision(Next.RETRY, self._clock.now() + wait, note), src

    def _holds(self, post: Post) -> bool:
        """True when a platform handle was saved for the post (bytes may have reached it)."""
        fresh = self._ledger.get(post.id)
        return fresh is not None and fresh.remote_ref is not None

    @staticmethod
    def _attention(exc: Exception) -> Attention:
        if isinstance(exc, ReauthRequired):
            return Attention.LOGIN
        if isinstance(exc, OutcomeUnknown):
            return Attention.OUTCOME_UNKNOWN
        if isinstance(exc, InputError | FileNotFoundError):
            return Attention.FILE
        if not isinstance(exc, AtroposError | OSError):
            return Attention.BUG
        return Attention.STATUS

    def failed(self, post: Post, exc: Exception, src: PostState, advanced: bool) -> None:
        """Apply the retry policy to a failed attempt; log ERR with what happens next."""
        attempt = 1 if advanced else post.attempts + 1
        decision, target = self._decide(exc, attempt, src)
        message = str(exc) or type(exc).__name__
        attempts = attempt if decision.next is not Next.PARK else post.attempts
        attention = self._attention(exc) if target is S.NEEDS_ATTENTION else None
        if target is S.FAILED and not isinstance(exc, PermanentError) and self._holds(post):
            # Given up, but the platform may hold the upload (even complete: a lost answer to
            # the last chunk). Not "failed": a human checks, and a retry asks first.
            target, attention = S.NEEDS_ATTENTION, Attention.OUTCOME_UNKNOWN
            decision = Decision(Next.ATTENTION, None, f"{decision.note}; the platform may hold it")
        done = self._ledger.transition(
            post.id,
            [src],
            target,
            note=decision.note,
            last_error=message,
            attempts=attempts,
            retry_at=decision.retry_at,
            attention=attention,
        )
        if done is None:
            return
        if decision.next is Next.PARK:
            self.parked.add(done.id)
        else:
            self.parked.discard(done.id)
        if attention is Attention.BUG:
            # Not a platform's or the OS's answer: a bug. The traceback goes to the log, and the
            # post waits for a human instead of repeating a step that may have committed.
            log.error("post_bug", **self.about(done), error=message, exc_info=exc)
        pe = exc if isinstance(exc, ProviderError) else None
        nxt: str | None = decision.note
        if attention is Attention.LOGIN:  # one ERR per dead login, naming the command
            nxt = alerts_for(self._ledger).next_for(done.account, done.platform, message)
        if nxt is not None:
            self._err(
                done, message, pe.platform_message if pe else None, pe.code if pe else None, nxt
            )
        self.changed(done)
        self.wake_later(done.id, decision)

    def wake_later(self, post_id: int, decision: Decision) -> None:
        """Ring the bus for the post when its ``retry_at`` comes."""
        if decision.retry_at is not None:
            self.wake_at(post_id, decision.retry_at)

    def wake_at(self, post_id: int, when: datetime) -> None:
        """Ring the bus for the post at ``when``."""
        delay = max(0.0, (when - self._clock.now()).total_seconds())
        asyncio.get_running_loop().call_later(delay, self._bus.publish, PostDue(post_id))

    def _err(
        self, post: Post, error: str, platform_message: str | None, code: str | int | None, nxt: str
    ) -> None:
        log.error(
            "ERR",
            **self.about(post),
            error=error,
            platform_message=platform_message,
            code=code,
            next=nxt,
            attempts=post.attempts,
        )
