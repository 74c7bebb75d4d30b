"""The daemon's alerts through a real webhook on loopback: one run-out warning per account per
day (also across a restart), one notice per failed / needs-attention cause per account per day.
A real ledger file, a real bus, an injected clock."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from atroposd.bus import Bus, PostChanged
from atroposd.config import UploadConfig
from atroposd.domain import PostState as S
from atroposd.notify import Delivery, Notifier, SentKeys
from atroposd.pipeline.alerts import Alerts
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.schedule.hook import Hook, hook_server

NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # Mon 08:00 in New York, 13:00 in London
FAST = Delivery(timeout=2.0, attempts=2, backoff=0.01, most=0.05)


class Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return 0.0


CONFIG = UploadConfig.model_validate(
    {
        "default_account": "alice",
        "accounts": {
            # 3 clips, two slots a weekday: gone by Tue 09:00 -> within 3 days.
            "alice": {
                "schedule": {
                    "timezone": "America/New_York",
                    "slots": {"mon-fri": ["09:00", "18:00"]},
                },
                "platforms": {"youtube": {"enabled": True}},
            },
            # 30 clips, one a day: a month -> no warning.
            "bob": {
                "schedule": {"timezone": "Europe/London", "slots": {"daily": ["07:30"]}},
                "platforms": {"instagram": {"enabled": True}},
            },
            # Slots and nothing queued: already out.
            "carol": {
                "schedule": {"timezone": "UTC", "slots": {"daily": ["12:00"]}},
                "platforms": {"tiktok": {"enabled": True}},
            },
            # Posts immediately: nothing to forecast, never warned.
            "dave": {"platforms": {"x": {"enabled": True}}},
        },
    }
)


def ledger_at(state: Path, clock: Clock) -> Ledger:
    ledger = Ledger(connect(state / "ledger.sqlite3"), clock)
    for account, platform, n in (("alice", "youtube", 3), ("bob", "instagram", 30)):
        for i in range(n):
            name = f"{account}-{i}.mp4"
            drop = Drop(
                Path(f"/q/{name}"), Path(f"/q/{name}.txt"), None, Path("/q"), name, "c", None
            )
            ledger.plan(hashlib.sha256(name.encode()).hexdigest(), 10, account, [platform], drop)
    return ledger


async def forecast_runs(alerts: Alerts, clock: Clock, times: list[datetime]) -> list[list[str]]:
    """Run the forecast job at each time; the notices are delivered before returning."""
    worker = asyncio.create_task(alerts.notifier.run())
    warned = []
    try:
        for at in times:
            clock.at = at
            warned.append(await alerts.forecast_once())
        await asyncio.wait_for(alerts.notifier._queue.join(), 30)
    finally:
        worker.cancel()
    return warned


def alerts_for(tmp_path: Path, hook: Hook, clock: Clock, ledger: Ledger, bus: Bus) -> Alerts:
    notifier = Notifier(
        SentKeys(tmp_path / "state" / "notifications.json"), webhook_url=hook.url, delivery=FAST
    )
    return Alerts(notifier, ledger, bus, clock, tmp_path / "state", lambda: CONFIG.accounts, 3.0)


def runouts(hook: Hook) -> list[tuple[str, str]]:
    return sorted((b["account"], b["day"]) for b in hook.bodies if b["cause"] == "runout")


def test_one_runout_warning_per_account_per_day_across_restarts(tmp_path: Path) -> None:
    clock, bus = Clock(), Bus()
    ledger = ledger_at(tmp_path / "state", clock)
    hour, day = timedelta(hours=1), timedelta(days=1)
    with hook_server() as hook, capture_logs() as logs:
        alerts = alerts_for(tmp_path, hook, clock, ledger, bus)
        warned = asyncio.run(forecast_runs(alerts, clock, [NOW, NOW + hour, NOW + 2 * hour]))
        assert warned == [["alice", "carol"], [], []]
        # A restart the same day: a new notifier on the same state file sends nothing again;
        # the next day (in each account's zone) warns once more.
        again = alerts_for(tmp_path, hook, clock, ledger, bus)
        times = [NOW + 3 * hour, NOW + day, NOW + day + hour]
        assert asyncio.run(forecast_runs(again, clock, times)) == [[], ["alice", "carol"], []]
    assert runouts(hook) == [
        ("alice", "2026-03-02"),
        ("alice", "2026-03-03"),
        ("carol", "2026-03-02"),
        ("carol", "2026-03-03"),
    ]
    alice = next(b for b in hook.bodies if b["account"] == "alice")
    # alice's 3 clips take Mon 09:00, Mon 18:00 and Tue 3 March 09:00 EST: 1 d 1 h after
    # Mon 08:00 = 1.04 days.
    assert alice["runs_out_at"] == "2026-03-03T09:00:00-05:00" and alice["days_left"] == 1.04
    lines = [ln for ln in logs if ln["event"] == "queue_running_out"]
    assert sorted(ln["account"] for ln in lines) == ["alice", "alice", "carol", "carol"]


def test_failed_and_needs_attention_posts_send_one_notice_per_cause_per_account_per_day(
    tmp_path: Path,
) -> None:
    clock, bus = Clock(), Bus()
    ledger = ledger_at(tmp_path / "state", clock)
    ids = [p.id for p in ledger.list_posts(None, "alice")]
    with hook_server() as hook:
        alerts = alerts_for(tmp_path, hook, clock, ledger, bus)

        async def main() -> None:
            worker = asyncio.create_task(alerts.notifier.run())
            watcher = asyncio.create_task(alerts.watch_posts())
            await asyncio.sleep(0)  # the watcher subscribes
            for post_id, state, fields in (
                (ids[0], S.FAILED, {"last_error": "HTTP 400: title too long"}),
                (ids[1], S.FAILED, {"last_error": "HTTP 400: again"}),  # same cause today
                (ids[2], S.NEEDS_ATTENTION, {"attention": "login", "last_error": "revoked"}),
            ):
                done = ledger.transition(post_id, [S.PLANNED], state, **fields)
                assert done is not None
                bus.publish(PostChanged(post_id, state))
            # The hook server is another thread: poll its count, bounded by the wait_for below.
            while len(hook.bodies) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            await alerts.notifier._queue.join()  # and nothing more is on its way
            watcher.cancel()
            worker.cancel()

        asyncio.run(asyncio.wait_for(main(), 30))
    got: list[tuple[Any, ...]] = sorted((b["cause"], b["post_id"]) for b in hook.bodies)
    assert got == [("failed", ids[0]), ("needs_attention", ids[2])]
    failed = next(b for b in hook.bodies if b["cause"] == "failed")
    assert failed["error"] == "HTTP 400: title too long" and failed["platform"] == "youtube"


def test_the_day_is_the_accounts_own_also_when_only_a_platform_has_a_schedule() -> None:
    """Dedupe turns over at midnight where the account posts: 03:00 UTC on 2 March is still
    1 March in New York, whether the schedule is the account's or only its platform's."""
    config = UploadConfig.model_validate(
        {
            "default_account": "erin",
            "accounts": {
                "erin": {
                    "platforms": {
                        "youtube": {
                            "enabled": True,
                            "schedule": {"timezone": "America/New_York", "cron": "0 9 * * *"},
                        }
                    }
                },
                "frank": {"platforms": {"x": {"enabled": True}}},
            },
        }
    )
    at = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert Alerts._day(config.accounts, "erin", at) == date(2026, 3, 1)
    assert Alerts._day(config.accounts, "frank", at) == date(2026, 3, 2)  # no schedule: UTC
    assert Alerts._day(CONFIG.accounts, "alice", at) == date(2026, 3, 1)
