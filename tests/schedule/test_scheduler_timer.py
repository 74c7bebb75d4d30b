"""The APScheduler wake-up timer: a job missed while the daemon was down still runs (APScheduler
3's default grace of 1 s would drop it), once; failures are logged, not fatal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from structlog.testing import capture_logs

from atroposd.pipeline.timer import ApsTimer


def test_a_job_missed_by_an_hour_runs_once_at_start() -> None:
    async def main() -> None:
        timer = ApsTimer(heartbeat=30.0)
        ran: list[str] = []
        done = asyncio.Event()

        def late() -> None:
            ran.append("late")
            done.set()

        async def failing() -> None:
            raise RuntimeError("boom")

        past = datetime.now(UTC) - timedelta(hours=1)
        timer.at("slot:a:youtube", past, late)  # due while the machine was off
        timer.at("broken", past, failing)
        timer.at("later", datetime.now(UTC) + timedelta(days=1), late)
        with capture_logs() as logs:
            timer.start()
            try:
                await asyncio.wait_for(done.wait(), timeout=30)
                for _ in range(20):  # let the failing job's task finish
                    if any(e["event"] == "job_failed" for e in logs):
                        break
                    await asyncio.sleep(0.05)
                pending = timer.pending()
            finally:
                timer.stop()
        assert ran == ["late"]
        assert set(pending) == {"later", "heartbeat"}
        assert [e["job"] for e in logs if e["event"] == "job_failed"] == ["broken"]

    asyncio.run(main())


def test_pending_before_start_and_a_cancelled_job() -> None:
    async def main() -> None:
        timer = ApsTimer(heartbeat=None)
        timer.every("every:forecast", 3600, lambda: None)  # registered before the start
        timer.at("slot:a:x", datetime.now(UTC) + timedelta(hours=1), lambda: None)
        assert timer.pending() == {}  # not scheduled yet: nothing to say, no error
        timer.start()
        try:
            assert set(timer.pending()) == {"every:forecast", "slot:a:x"}
            timer.cancel("slot:a:x")
            timer.cancel("never-added")
            assert set(timer.pending()) == {"every:forecast"}
        finally:
            timer.stop()

    asyncio.run(main())
