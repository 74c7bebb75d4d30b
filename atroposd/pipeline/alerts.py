"""The daemon's alerts (issue 11): the run-out forecast job, and a notice for each post that
fails or needs attention, sent through ``notify.Notifier``.

- ``forecast_once`` (at start, then hourly on the slot scheduler's timer, which notices a
  suspend): the inventory forecast (``schedule.forecast``) on
  a read-only ledger connection of its own, in a worker thread; each account with a slotted
  lane that runs out within ``RUNOUT_WARN_DAYS`` gets one ``queue_running_out`` log line and
  one ``runout`` notice per day (the account's own day, kept across restarts).
- ``watch_posts``: a bus subscriber; a post entering ``failed`` or ``needs_attention`` sends a
  notice (one per cause per account per day).
Nothing here waits on a delivery: the notifier's queue and worker do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

import structlog

from atroposd.bus import Bus, PostChanged
from atroposd.clock import Clock
from atroposd.domain import PostState
from atroposd.keys import child_env
from atroposd.log import Redactor
from atroposd.notify import Notice, Notifier, Scalar, SentKeys, check_webhook_url
from atroposd.schedule.forecast import LaneForecast, forecast, lanes_of
from atroposd.schedule.slots import AccountLike
from atroposd.store.ledger import Ledger
from atroposd.store.queue import open_readonly, queued_posts

log = structlog.get_logger("atroposd")
FORECAST_SECONDS = 3600.0
NOTIFIED = {PostState.FAILED: "failed", PostState.NEEDS_ATTENTION: "needs_attention"}


class AlertSettings(Protocol):
    """What the alerts read of ``config.Settings``."""

    @property
    def state_dir(self) -> Path: ...
    @property
    def notify_webhook_url(self) -> str | None: ...
    @property
    def notify_command(self) -> str | None: ...
    @property
    def runout_warn_days(self) -> float: ...


class Alerts:
    """Run-out warnings and post notices."""

    def __init__(
        self,
        notifier: Notifier,
        ledger: Ledger,
        bus: Bus,
        clock: Clock,
        state_dir: Path,
        accounts: Callable[[], Mapping[str, AccountLike]],
        warn_days: float,
    ) -> None:
        self.notifier = notifier
        self._ledger = ledger
        self._bus = bus
        self._clock = clock
        self._state_dir = state_dir
        self._accounts = accounts
        self._warn_days = warn_days

    async def run(self, every: float | None = FORECAST_SECONDS) -> None:
        """The daemon's task: watch posts; forecast now, then every ``every`` seconds (None:
        a timer of the caller's runs ``tick``, as the daemon's slot scheduler does)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.watch_posts())
            await self.tick()
            while every is not None:
                await asyncio.sleep(every)
                await self.tick()

    async def tick(self) -> None:
        """One periodic forecast (for a timer's ``every``); a failure is logged, and the next
        one tries again (the post notices go on meanwhile)."""
        try:
            await self.forecast_once()
        except Exception as exc:  # supervisor: one failed forecast must not stop the alerts
            log.exception("forecast_failed", error=f"{type(exc).__name__}: {exc}")

    async def forecast_once(self) -> list[str]:
        """Forecast every lane; warn the accounts running out. Returns the accounts warned."""
        now = self._clock.now()
        accounts = self._accounts()
        rows = await asyncio.to_thread(self._forecast, accounts, now)
        return self.warn(rows, accounts, now)

    def _forecast(self, accounts: Mapping[str, AccountLike], now: datetime) -> list[LaneForecast]:
        """Blocking: the forecast from a read-only connection of its own (a worker thread)."""
        conn = open_readonly(self._state_dir)
        try:
            posts = queued_posts(conn, now) if conn is not None else []
        finally:
            if conn is not None:
                conn.close()
        return forecast(lanes_of(accounts), posts, now)

    def warn(
        self, rows: list[LaneForecast], accounts: Mapping[str, AccountLike], now: datetime
    ) -> list[str]:
        """One log line and one notice per account running out (the first time today)."""
        short: dict[str, list[LaneForecast]] = {}
        for f in rows:
            if f.mode == "slots" and f.days_left is not None and f.days_left <= self._warn_days:
                short.setdefault(f.account, []).append(f)
        warned = []
        for account, lanes in sorted(short.items()):
            notice = self._runout(account, lanes, self._day(accounts, account, now))
            if self.notifier.claim(notice):
                log.warning("queue_running_out", account=account, **notice.fields)
                self.notifier.enqueue(notice)
                warned.append(account)
        return warned

    def _runout(self, account: str, lanes: list[LaneForecast], day: date) -> Notice:
        first = min(lanes, key=lambda f: f.days_left or 0.0)
        parts = [
            f"{f.platform} {f.runs_out_at.isoformat()} ({f.days_left} days)"
            if f.runs_out_at is not None
            else f"{f.platform} empty"
            for f in lanes
        ]
        message = f"{account}: the queue runs out within {self._warn_days:g} days: " + "; ".join(
            parts
        )
        fields: dict[str, Scalar] = {
            "platforms": ",".join(f.platform for f in lanes),
            "runs_out_at": first.runs_out_at.isoformat() if first.runs_out_at else None,
            "days_left": first.days_left,
            "queued": sum(f.queued for f in lanes),
        }
        return Notice("runout", account, day, message, fields)

    @staticmethod
    def _day(accounts: Mapping[str, AccountLike], account: str, now: datetime) -> date:
        """Today in the account's zone: its schedule's, else its first slotted platform's
        (``lanes_of``: by name); UTC without any."""
        acc = accounts.get(account)
        name = "UTC"
        if acc is not None and acc.schedule is not None:
            name = acc.schedule.timezone
        elif acc is not None:
            lanes = lanes_of({account: acc})
            name = next((s.timezone for s in lanes.values() if s is not None), "UTC")
        return now.astimezone(ZoneInfo(name)).date()

    async def watch_posts(self) -> None:
        """Send a notice for each post that enters ``failed`` or ``needs_attention``."""
        with self._bus.subscribe(PostChanged) as changes:
            async for event in changes:
                if event.state in NOTIFIED:
                    self.post_changed(event.post_id)

    def post_changed(self, post_id: int) -> bool:
        """Queue the notice for one post, read again from the ledger; True when queued."""
        post = self._ledger.get(post_id)
        if post is None or post.state not in NOTIFIED:
            return False
        cause = NOTIFIED[post.state]
        clip = self._ledger.drop_of(post.id).clip_rel
        why = post.attention or post.last_error or ""
        message = f"{post.account}: post {post.id} ({post.platform}, {clip}) {cause}: {why}"
        fields: dict[str, Scalar] = {
            "platform": post.platform,
            "post_id": post.id,
            "clip": clip,
            "attention": post.attention,
            "error": post.last_error,
        }
        day = self._day(self._accounts(), post.account, self._clock.now())
        return self.notifier.send(Notice(cause, post.account, day, message, fields))


def make_alerts(
    settings: AlertSettings,
    ledger: Ledger,
    bus: Bus,
    clock: Clock,
    accounts: Callable[[], Mapping[str, AccountLike]],
    redactor: Redactor,
) -> Alerts:
    """The alerts and their notifier, as the daemon runs them.

    The command's environment is this process's without secrets (``keys.child_env``) and
    without the NOTIFY_* settings (the webhook URL may hold a token); the URL is also taught to
    the log redactor, though nothing logs it. A webhook URL that is no http(s) URL is a
    ``ConfigError`` (exit 2 at start), which does not show it.
    """
    url = settings.notify_webhook_url
    if url:
        redactor.pin(url)
        check_webhook_url(url)  # a URL that can never work stops the start (ConfigError)
    env = {k: v for k, v in child_env().items() if not k.startswith("NOTIFY_")}
    notifier = Notifier(
        SentKeys(settings.state_dir / "notifications.json"),
        webhook_url=url,
        command=settings.notify_command,
        env=env,
        scrub=redactor.scrub,
        now=clock.now,
    )
    warn = settings.runout_warn_days
    return Alerts(notifier, ledger, bus, clock, settings.state_dir, accounts, warn)
