"""After the upload: poll the platform, publish when it says the media is ready, until published.

The publish is a step of its own in the ledger (``processing -> publishing``), recorded with the
handle *before* the call. A post found in ``publishing`` (after a crash, a dropped answer, a
failed attempt) is never published again blindly: the platform is asked first, and only a
``READY`` answer (the provider's promise that nothing was published) lets the call go out again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from atroposd.clock import Clock
from atroposd.domain import Attention, Post, PostState
from atroposd.errors import QuotaExhausted
from atroposd.pipeline.native import log_scheduled, settled_state, still_scheduled
from atroposd.pipeline.outcomes import Outcomes
from atroposd.pipeline.request import build_request
from atroposd.providers.base import Provider, RemotePhase, RemoteRef, RemoteStatus, UploadResult
from atroposd.store.ledger import Ledger

log = structlog.get_logger("atroposd")
S = PostState
MISSING_POLLS = 10  # consecutive "not found" answers while processing before asking a human
Sleep = Callable[[float], Awaitable[None]]
OptionsFor = Callable[[str, str], Mapping[str, object]]

AGAIN = "; uploading again"  # the history note of a restart after an expired handle
MAX_EXPIRED_RESTARTS = 2  # then a human looks: a real expiry takes the platform about a day
HUMAN_RETRIED = frozenset({S.FAILED.value, S.NEEDS_ATTENTION.value, S.CANCELLED.value})


@dataclass(frozen=True)
class Polling:
    """How often the platform is asked, and for how long before a human is asked instead."""

    first: float = 0.5
    cap: float = 30.0
    deadline: float = 6 * 3600.0  # seconds in processing/publishing before needs_attention


def _span(seconds: float) -> str:
    """``6 h``, ``90 min``, ``2 s``: a deadline as people say it."""
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 60 else f"{seconds:.3g} s"


class Follower:
    """Takes an uploaded post (``processing`` or ``publishing``) to ``published``."""

    def __init__(
        self,
        ledger: Ledger,
        outcomes: Outcomes,
        clock: Clock,
        options_for: OptionsFor,
        polling: Polling = Polling(),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._ledger = ledger
        self._out = outcomes
        self._clock = clock
        self._options_for = options_for
        self._polling = polling
        self._sleep = sleep

    def _overdue(self, post: Post) -> bool:
        since = self._ledger.entered_at(post.id, post.state)
        if since is not None and post.publish_accepted_at is not None:
            # A publish accepted after a wait in ``publishing`` (a platform's cap) starts the
            # deadline again: the wait was the platform's, not a stuck post.
            since = max(since, post.publish_accepted_at)
        waiting = (S.PROCESSING, S.SCHEDULED)
        if since is not None and post.state in waiting and post.publish_at is not None:
            # Held until its publish_at (ADR 0013): the wait was the user's, not the platform's.
            since = max(since, post.publish_at)
        limit = timedelta(seconds=self._polling.deadline)
        return since is not None and self._clock.now() - since > limit

    def _stuck(self, post: Post, last: str) -> bool:
        """Past the deadline in this step: the post waits for a human instead of more polls."""
        if not self._overdue(post):
            return False
        why = (
            f"still {post.state.value} on the platform after {_span(self._polling.deadline)}"
            f" ({last}); check it there, then retry or cancel"
        )
        self._out.finish(post, S.NEEDS_ATTENTION, why, "needs attention", Attention.STUCK)
        return True

    async def follow(self, provider: Provider, post: Post) -> None:
        """Poll ``status`` until published, publishing once the platform says ``READY``."""
        # Once the platform took the publish call it is never sent again, whatever its
        # listing says meanwhile (recorded in the ledger, so also after a restart).
        delay, missing = self._polling.first, 0
        answered = post.publish_accepted_at is not None
        while True:
            ref = RemoteRef.from_json(post.remote_ref or "{}")
            try:
                status = await provider.status(post.account, ref)
            except Exception as exc:
                # Waiting for a quota reset is not being stuck: the platform said when.
                if not isinstance(exc, QuotaExhausted) and self._stuck(post, str(exc)):
                    return
                self._out.failed(post, exc, post.state, False)
                return
            if status.phase is RemotePhase.PUBLISHED:
                self._published(post, status)
                return
            if status.phase is RemotePhase.FAILED:
                self._out.finish(post, S.FAILED, status.reason or "processing failed", "failed")
                return
            if status.phase is RemotePhase.EXPIRED:
                self._expired(post, status, answered)
                return
            if (
                status.phase is RemotePhase.READY
                and provider.capabilities.publish_step
                and not answered
            ):
                nxt = await self._publish(provider, post, ref)
                if nxt is None:
                    return
                post, answered, delay = nxt, True, self._polling.first
                continue
            # A fresh upload can be missing from listings for a while; never fail it for that.
            missing = missing + 1 if status.phase is RemotePhase.NOT_FOUND else 0
            if missing >= MISSING_POLLS:
                why = "uploaded, but the platform does not list the video; check it by hand"
                self._out.finish(post, S.NEEDS_ATTENTION, why, "needs attention")
                return
            if self._stuck(post, f"the platform says {status.phase.value}"):
                return
            await self._sleep(delay)
            delay = min(delay * 1.5, self._polling.cap)

    def _expired(self, post: Post, status: RemoteStatus, answered: bool) -> None:
        """The handle lapsed before anything was published from it: upload again (ADR 0012).

        Never once the platform accepted a publish call: that post may exist, a human checks.
        """
        reason = status.reason or "the upload expired on the platform before it was published"
        if answered:
            why = f"{reason}, after the platform accepted the publish; check it by hand"
            self._out.finish(post, S.NEEDS_ATTENTION, why, "needs attention", Attention.STUCK)
            return
        again = self._restarts(post.id)
        if again >= MAX_EXPIRED_RESTARTS:  # a platform that keeps answering "expired"
            why = f"{reason} ({again + 1} times); check the platform, then `atroposd retry`"
            self._out.finish(post, S.NEEDS_ATTENTION, why, "needs attention", Attention.STUCK)
            return
        moved = self._ledger.transition(
            post.id,
            [post.state],
            S.READY,
            note=f"{reason}{AGAIN}",
            remote_ref=None,
            remote_id=None,
            url=None,
            bytes_sent=0,
            retry_at=self._clock.now(),
        )
        if moved is not None:
            log.info("upload_restarted", **self._out.about(moved), reason=reason)
            self._out.changed(moved)

    def _restarts(self, post_id: int) -> int:
        """Uploads started again after an expired handle since a human last retried the post."""
        count = 0
        for frm, to, note in self._ledger.history(post_id):
            if to == S.READY.value and frm in HUMAN_RETRIED:
                count = 0
            elif (note or "").endswith(AGAIN):
                count += 1
        return count

    def _published(self, post: Post, status: RemoteStatus) -> None:
        target, extra = settled_state(post, self._clock.now())  # before publish_at: scheduled
        if still_scheduled(post, target):
            return
        done = self._ledger.transition(
            post.id,
            [post.state],
            target,
            remote_id=status.remote_id or post.remote_id,
            url=status.url or post.url,
            last_error=None,
            **extra,
        )
        if done is not None and target is S.PUBLISHED:
            self._out.published(done)
        elif done is not None:
            log_scheduled(self._out.about(done), done)
            self._out.changed(done)

    async def _publish(self, provider: Provider, post: Post, ref: RemoteRef) -> Post | None:
        """Record ``publishing``, then send the publish call; None when the worker stops.

        A clip scheduled for later (``publish_at``) on a platform that cannot schedule it
        itself waits, uploaded and processed, until then (ADR 0013).
        """
        drop = self._ledger.drop_of(post.id)
        size = drop.identity.size if drop.identity else post.bytes_sent
        options = self._options_for(post.account, post.platform)
        caps = provider.capabilities  # cutting a long caption is CPU work: off the loop
        request = await asyncio.to_thread(build_request, post, drop, size, caps, options)
        when = request.publish_at
        waits = post.state is S.PROCESSING and not caps.schedules_natively
        if waits and when is not None and when > self._clock.now():
            self._hold(post, when)
            return None
        if post.state is S.PROCESSING:
            moved = self._ledger.transition(
                post.id, [S.PROCESSING], S.PUBLISHING, note="ready; publishing", retry_at=None
            )
            if moved is None:
                return None
            post = moved
            self._out.changed(post)
        else:
            log.info("publish_again", **self._out.about(post), reason="the platform says ready")

        async def save(new: RemoteRef) -> None:
            self._ledger.set_fields(post.id, remote_ref=new.to_json())

        try:
            result = await provider.publish(request, ref, save)
        except Exception as exc:
            # Every publish attempt is an ambiguous call that costs quota: bounded too.
            if not isinstance(exc, QuotaExhausted) and self._stuck(post, str(exc)):
                return None
            self._out.failed(post, exc, S.PUBLISHING, False)
            return None
        return self._answered(post, result)

    def _hold(self, post: Post, when: datetime) -> None:
        """Keep the processed upload until its ``publish_at``; the publish goes out then."""
        self._ledger.set_fields(post.id, retry_at=when, publish_at=when)
        log.info(
            "publish_held",
            **self._out.about(post),
            until=when.isoformat(),
            reason="publish_at: the platform cannot schedule it, so atroposd publishes then",
        )
        self._out.wake_at(post.id, when)

    def _answered(self, post: Post, result: UploadResult) -> Post | None:
        fields: dict[str, Any] = {
            "remote_id": result.remote_id,
            "url": result.url or post.url,
            "publish_accepted_at": self._clock.now(),
        }
        if result.ref is not None:
            fields["remote_ref"] = result.ref.to_json()
        log.info("publish_sent", **self._out.about(post), remote_id=result.remote_id)
        if result.processing:
            self._ledger.set_fields(post.id, **fields)
            return self._ledger.get(post.id)
        target, extra = settled_state(post, self._clock.now())  # before publish_at: scheduled
        done = self._ledger.transition(
            post.id, [S.PUBLISHING], target, last_error=None, **fields, **extra
        )
        if done is not None and target is S.PUBLISHED:
            self._out.published(done)
        elif done is not None:
            log_scheduled(self._out.about(done), done)
            self._out.changed(done)
        return None
