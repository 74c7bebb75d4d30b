"""Workers that move due posts through upload, processing and publishing to published."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import structlog

from atroposd.bus import Bus, PostDue, UploadProgressed
from atroposd.clock import Clock
from atroposd.domain import ACTIVE, Post, PostState
from atroposd.errors import InputError, OutcomeUnknown, SourceChanged
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.files import Whereabouts, unchanged_size
from atroposd.pipeline.follow import Follower, Polling, Sleep
from atroposd.pipeline.intake import read_caption, sidecar_json
from atroposd.pipeline.native import log_scheduled, settled_state
from atroposd.pipeline.outcomes import Outcomes
from atroposd.pipeline.request import build_request
from atroposd.pipeline.retry import Decision, Next, RetryPolicy
from atroposd.pipeline.variants import MediaCheck
from atroposd.providers.base import (
    Provider,
    RemotePhase,
    RemoteRef,
    SaveRef,
    UploadResult,
)
from atroposd.store.ledger import Drop, Ledger

log = structlog.get_logger("atroposd")
S = PostState
WORKED = (S.READY, S.UPLOADING, S.PROCESSING, S.PUBLISHING)  # states a worker moves on
OptionsFor = Callable[[str, str], Mapping[str, object]]
Enabled = Callable[[str, str], bool]


class _Settled(Exception):
    """The platform's answer settled the post before its upload (nothing to send)."""


class Publisher:
    """Runs one task per due post, bounded per platform by ``capabilities.concurrency``."""

    def __init__(
        self,
        ledger: Ledger,
        providers: Mapping[str, Provider],
        bus: Bus,
        clock: Clock,
        policy: RetryPolicy,
        archiver: Archiver,
        options_for: OptionsFor,
        enabled: Enabled,
        whereabouts: Whereabouts | None = None,
        polling: Polling = Polling(),  # noqa: B008 - frozen
        sleep: Sleep = asyncio.sleep,
        media: MediaCheck | None = None,
    ) -> None:
        self._ledger = ledger
        self._providers = providers
        self._bus = bus
        self._clock = clock
        self._options_for = options_for
        self._enabled = enabled
        self._where = whereabouts or Whereabouts(ledger)  # the file rules (files.py)
        self._media = media  # per-platform media check and variants (pipeline/variants.py)
        self._limits = {
            n: asyncio.Semaphore(p.capabilities.concurrency) for n, p in providers.items()
        }
        self._busy: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.closing = False  # shutdown: no new post, no new upload (App._wind_down)
        # A ready post that waits for its posting slot (pipeline/scheduler.py); none by default.
        self.hold: Callable[[Post], bool] = lambda post: False
        self._out = Outcomes(ledger, bus, clock, policy, archiver)
        self._follower = Follower(ledger, self._out, clock, options_for, polling, sleep)

    @property
    def parked(self) -> set[int]:
        """Posts waiting on a platform's quota reset (``upload --once`` does not wait).

        A post cancelled or superseded meanwhile (by the CLI, another process) is dropped.
        """
        for post_id in list(self._out.parked):
            post = self._ledger.get(post_id)
            if post is None or post.state not in ACTIVE:
                self._out.parked.discard(post_id)
        return set(self._out.parked)

    @property
    def busy(self) -> frozenset[int]:
        """Ids of posts a worker is handling now."""
        return frozenset(self._busy)

    def kick(self, post_id: int) -> None:
        """Start working on a post unless a worker already has it."""
        if post_id in self._busy or self.closing:
            return
        self._busy.add(post_id)
        task = asyncio.create_task(self._guarded(post_id), name=f"post-{post_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Consume ``PostDue`` events forever."""
        queue = self._bus.subscribe(PostDue)
        try:
            while True:
                self.kick((await queue.get()).post_id)
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def workers(self) -> dict[int, asyncio.Task[None]]:
        """The post tasks running now, by post id."""
        return {int(t.get_name().removeprefix("post-")): t for t in self._tasks}

    def add_provider(self, name: str, provider: Provider) -> None:
        """A platform a reload enabled: its provider and its concurrency limit."""
        self._providers = {**self._providers, name: provider}
        self._limits.setdefault(name, asyncio.Semaphore(provider.capabilities.concurrency))

    async def drain(self) -> None:
        """Wait until no post is being worked on (used by ``upload --once``)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _guarded(self, post_id: int) -> None:
        try:
            await self.work(post_id)
        except Exception as exc:  # supervisor: a bug in one post must not stop the others
            log.exception("post_worker_crashed", post_id=post_id, error=str(exc))
            self._park_after_crash(post_id, exc)
        finally:
            self._busy.discard(post_id)

    def _park_after_crash(self, post_id: int, exc: Exception) -> None:
        """A worker died outside any step's own handling: the post waits for a human (``bug``)
        instead of the sweep repeating, every minute, a step that may have committed."""
        try:
            post = self._ledger.get(post_id)
            if post is not None and post.state in (
                S.READY,
                S.UPLOADING,
                S.PROCESSING,
                S.PUBLISHING,
            ):
                self._out.failed(post, exc, post.state, False)
        except Exception as again:  # the ledger itself is failing: the sweep tries later
            log.error("post_park_failed", post_id=post_id, error=str(again))

    async def work(self, post_id: int) -> None:
        """Take a post one step further according to its state in the ledger."""
        post = self._ledger.get(post_id)
        if post is not None and post.state is S.UPLOADING:
            # Only one worker per post exists in this process and the state dir is locked, so
            # an upload no worker holds was cut short by a previous process: resume it.
            # Where it goes on from is the platform's answer (``upload_done``'s resumed_from);
            # the ledger's byte count is only as fresh as its last progress write.
            log.info("upload_resumed", **self._out.about(post))
            post = self._ledger.transition(
                post.id,
                [S.UPLOADING],
                S.READY,
                note="upload interrupted; resume from saved session",
            )
        if post is None or (post.retry_at is not None and post.retry_at > self._clock.now()):
            return
        if post.platform not in self._providers or not self._enabled(post.account, post.platform):
            log.debug("post_held", post_id=post.id, reason="platform not enabled for account")
            return
        if post.state is S.READY and self.hold(post):
            return  # waits for its slot: the scheduler kicks it then
        for _ in range(2):  # a second round only when the handle expired unpublished (ADR 0012)
            if post is not None and post.state is S.READY:
                post = await self._upload(post)
            if post is None or post.state not in (S.PROCESSING, S.PUBLISHING, S.SCHEDULED):
                return
            await self._follower.follow(self._providers[post.platform], post)
            post = self._ledger.get(post.id)
            if post is None or post.state is not S.READY:
                return

    # -- upload ---------------------------------------------------------------------------

    async def _upload(self, post: Post) -> Post | None:
        provider = self._providers[post.platform]
        async with self._limits[post.platform]:
            if self.closing:  # queued behind another upload when the stop came
                return None
            drop = self._ledger.drop_of(post.id)
            claimed = self._ledger.transition(
                post.id, [S.READY], S.UPLOADING, note=f"attempt {post.attempts + 1}"
            )
            if claimed is None:
                return None
            self._out.parked.discard(post.id)
            self._out.changed(claimed)
            progress_before = post.bytes_sent
            try:
                size = await asyncio.to_thread(unchanged_size, drop)
                if not post.remote_ref and post.bytes_sent == 0:
                    drop = await self._latest_caption(claimed, drop)
                request = await asyncio.to_thread(  # cutting a long caption: CPU, off the loop
                    build_request,
                    post,
                    drop,
                    size,
                    provider.capabilities,
                    self._options_for(post.account, post.platform),
                )
                resume = RemoteRef.from_json(post.remote_ref) if post.remote_ref else None
                if resume is not None:  # asked before the media check: it may be published
                    resume = await self._ask_first(provider, claimed, resume)
                if self._media is not None:  # as is, a variant, or MediaRejected
                    request = await self._media.fit(request, post.platform, provider.capabilities)
                provider.validate(request)
                result = await provider.upload(
                    request, resume, self._saver(post.id), self._progress(post.id)
                )
            except _Settled:
                return None
            except Exception as exc:
                if self._moved_meanwhile(claimed, drop, exc):
                    return None
                fresh = self._ledger.get(post.id)
                advanced = fresh is not None and fresh.bytes_sent > progress_before
                self._out.failed(claimed, exc, S.UPLOADING, advanced)
                return None
            await self._late_caption(claimed, drop)
            return self._uploaded(claimed, result)

    async def _read_caption(self, post: Post, drop: Drop) -> str | None:
        try:
            return await asyncio.to_thread(read_caption, drop.caption_path)
        except (OSError, InputError) as exc:
            log.warning("caption_unreadable", **self._out.about(post), error=str(exc))
            return None

    async def _latest_caption(self, post: Post, drop: Drop) -> Drop:
        """Until the first byte is sent, the caption file (and sidecar) as it is now goes."""
        text = await self._read_caption(post, drop)
        fields = {"caption": text} if text is not None and text != drop.caption else {}
        if drop.sidecar_path is not None:  # an override fixed after its ERR, then retried
            try:
                stored = await asyncio.to_thread(sidecar_json, drop.sidecar_path)
                if stored != drop.sidecar_json:
                    fields["sidecar_json"] = stored
            except (OSError, InputError) as exc:
                log.warning("sidecar_unreadable", **self._out.about(post), error=str(exc))
        if not fields:
            return drop  # unreadable now: what was read when it was planned still goes
        self._ledger.set_fields(post.id, **fields)
        log.info("caption_updated", **self._out.about(post), changed=sorted(fields))
        caption = fields.get("caption", drop.caption)
        return replace(
            drop, caption=caption, sidecar_json=fields.get("sidecar_json", drop.sidecar_json)
        )

    async def _late_caption(self, post: Post, drop: Drop) -> None:
        """Say so when the caption file was edited after the upload took its text."""
        text = await self._read_caption(post, drop)
        if text is not None and text != drop.caption:
            log.warning(
                "caption_edit_too_late",
                **self._out.about(post),
                hint="the caption was edited after the upload started; the post keeps the "
                "earlier text (edit it on the platform)",
            )

    async def _ask_first(self, provider: Provider, post: Post, ref: RemoteRef) -> RemoteRef | None:
        """Before resuming from a saved handle, ask the platform where it stands.

        An upload the platform says failed (rejected, deleted) or expired unpublished cannot
        become a post: start over — unless the platform once accepted its publish (a human
        decides). One the platform says is published is recorded as such, nothing sent.
        Anything else goes to the provider's own resume, which never resends what the platform
        holds.
        """
        status = await provider.status(post.account, ref)
        if status.phase is RemotePhase.PUBLISHED:  # e.g. `retry` of a post that did go out
            done = self._ledger.transition(
                post.id,
                [S.UPLOADING],
                S.PUBLISHED,
                remote_id=status.remote_id or post.remote_id,
                url=status.url or post.url,
                retry_at=None,
                last_error=None,
            )
            if done is not None:
                self._out.published(done)
            raise _Settled
        if status.phase not in (RemotePhase.FAILED, RemotePhase.EXPIRED):
            return ref
        if post.publish_accepted_at is not None:  # a post may exist: never upload it again
            raise OutcomeUnknown(
                f"the platform accepted this post's publish earlier and now says its upload "
                f"{status.phase.value} ({status.reason or 'no reason given'}); check the "
                f"account, then `atroposd resolve {post.id} --posted URL` or `--not-posted`",
                platform=post.platform,
                code="published_then_" + status.phase.value,
            )
        log.info("upload_restarted", **self._out.about(post), reason=status.reason or "failed")
        self._ledger.set_fields(post.id, remote_ref=None, remote_id=None, url=None, bytes_sent=0)
        return None

    def _moved_meanwhile(self, post: Post, drop: Drop, exc: Exception) -> bool:
        """The video was renamed, touched or replaced during the attempt: go on from where the
        same bytes are now (its new place, or a copy seen earlier), else give up the attempt."""
        if not isinstance(exc, SourceChanged | FileNotFoundError):
            return False
        if not self._where.moved_during_upload(post, drop):
            return False
        when = self._clock.now()
        done = self._ledger.transition(
            post.id,
            [S.UPLOADING],
            S.READY,
            retry_at=when,
            note="the video moved during the upload; continuing",
        )
        if done is not None:
            self._out.wake_later(done.id, Decision(Next.RETRY, when))
        return done is not None

    def _saver(self, post_id: int) -> SaveRef:
        async def save(ref: RemoteRef) -> None:
            self._ledger.set_fields(post_id, remote_ref=ref.to_json())

        return save

    def _progress(self, post_id: int) -> Callable[[int, int], None]:
        last = [0.0]

        def report(done: int, total: int) -> None:
            self._bus.publish(UploadProgressed(post_id, done, total))
            now = self._clock.monotonic()
            if done == total or now - last[0] >= 1.0:
                last[0] = now
                self._ledger.set_fields(post_id, bytes_sent=done)

        return report

    def _uploaded(self, post: Post, result: UploadResult) -> Post | None:
        log.info(
            "upload_done",
            **self._out.about(post),
            remote_id=result.remote_id,
            bytes=result.bytes_sent,
            resumed_from=result.resumed_from,
        )
        fields: dict[str, Any] = {
            "remote_id": result.remote_id,
            "url": result.url,
            "bytes_sent": result.bytes_sent,
            "retry_at": None,
            "last_error": None,
        }
        if result.ref is not None:
            fields["remote_ref"] = result.ref.to_json()
        target = S.PROCESSING if result.processing else S.PUBLISHED
        if target is S.PUBLISHED:  # before its publish_at: scheduled on the platform
            target, extra = settled_state(post, self._clock.now())
            fields.update(extra)
        done = self._ledger.transition(post.id, [S.UPLOADING], target, **fields)
        if done is not None and target is S.PUBLISHED:
            self._out.published(done)
        elif done is not None:
            if target is S.SCHEDULED:
                log_scheduled(self._out.about(done), done)
            self._out.changed(done)
        return done
