"""Wake-up timers for the scheduler: APScheduler 3 in the daemon, the injected clock in tests.

APScheduler is used as a wake-up timer only (ADR 0015): its jobs hold no post state, only
"run this function at (or every) ...". Whatever a job does, it re-reads the ledger and the
clock, so a job that runs late, twice, or not at all (a restart) loses nothing. Its traps are
closed here: ``misfire_grace_time=None`` (3.x drops a job missed by more than 1 s), coalesced
runs (one run for many missed ones), and a heartbeat: the event loop's timers do not advance
while the machine sleeps, so a wait computed before a suspend would end hours late; a job
every ``heartbeat`` seconds makes APScheduler look at the wall clock again soon after resume.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from atroposd.clock import Clock

log = structlog.get_logger("atroposd")
Fn = Callable[[], Awaitable[None] | None]
HEARTBEAT_SECONDS = 30.0


async def _call(job_id: str, fn: Fn) -> None:
    """Run a job; a failure is logged and the job keeps its next run."""
    try:
        result = fn()
        if inspect.isawaitable(result):
            await result
    except Exception as exc:  # supervisor: one failing job must not stop the timer
        log.exception("job_failed", job=job_id, error=str(exc))


class Timer(Protocol):
    """Run functions at an instant or every N seconds."""

    def at(self, job_id: str, when: datetime, fn: Fn) -> None:
        """Run ``fn`` once at ``when`` (at once if past); replaces a job of the same id."""

    def every(self, job_id: str, seconds: float, fn: Fn) -> None:
        """Run ``fn`` every ``seconds`` (first run one period from now)."""

    def cancel(self, job_id: str) -> None:
        """Forget a job (no error if there is none)."""

    def pending(self) -> dict[str, datetime]:
        """Each job's next run."""

    def start(self) -> None:
        """Begin running jobs (in the running event loop)."""

    def stop(self) -> None:
        """Stop running jobs."""


@dataclass
class _Job:
    when: datetime
    fn: Fn
    interval: timedelta | None = None


class ClockTimer:
    """Jobs due by the injected clock run when ``run_due`` is awaited (tests move the clock)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._jobs: dict[str, _Job] = {}

    def at(self, job_id: str, when: datetime, fn: Fn) -> None:
        self._jobs[job_id] = _Job(when, fn)

    def every(self, job_id: str, seconds: float, fn: Fn) -> None:
        step = timedelta(seconds=seconds)
        self._jobs[job_id] = _Job(self._clock.now() + step, fn, step)

    def cancel(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def pending(self) -> dict[str, datetime]:
        return {job_id: job.when for job_id, job in self._jobs.items()}

    def next_due(self) -> datetime | None:
        """The earliest next run of any job."""
        return min((job.when for job in self._jobs.values()), default=None)

    async def run_due(self) -> int:
        """Run every job due now, earliest first, once each (missed runs coalesce)."""
        now, ran = self._clock.now(), 0
        for job_id, job in sorted(self._jobs.items(), key=lambda item: item[1].when):
            if job.when > now or self._jobs.get(job_id) is not job:
                continue
            if job.interval is None:
                del self._jobs[job_id]
            else:
                while job.when <= now:
                    job.when += job.interval
            await _call(job_id, job.fn)
            ran += 1
        return ran

    def start(self) -> None:
        """Nothing runs by itself: ``run_due`` does."""

    def stop(self) -> None:
        self._jobs.clear()


class ApsTimer:
    """APScheduler 3's ``AsyncIOScheduler`` on the running loop, as a wake-up timer."""

    def __init__(self, heartbeat: float | None = HEARTBEAT_SECONDS) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._aps: Any = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._heartbeat = heartbeat

    def at(self, job_id: str, when: datetime, fn: Fn) -> None:
        from apscheduler.triggers.date import DateTrigger

        trigger = DateTrigger(run_date=when.astimezone(UTC), timezone=UTC)
        self._aps.add_job(_call, trigger, args=(job_id, fn), id=job_id, replace_existing=True)

    def every(self, job_id: str, seconds: float, fn: Fn) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        trigger = IntervalTrigger(seconds=seconds, timezone=UTC)
        self._aps.add_job(_call, trigger, args=(job_id, fn), id=job_id, replace_existing=True)

    def cancel(self, job_id: str) -> None:
        if self._aps.get_job(job_id) is not None:
            self._aps.remove_job(job_id)

    def pending(self) -> dict[str, datetime]:
        jobs = self._aps.get_jobs()  # before start: tentative jobs, no next run time yet
        when = {job.id: getattr(job, "next_run_time", None) for job in jobs}
        return {job_id: at for job_id, at in when.items() if at is not None}

    def start(self) -> None:
        if self._heartbeat:
            self.every("heartbeat", self._heartbeat, lambda: None)
        self._aps.start()

    def stop(self) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=False)
