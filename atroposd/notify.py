"""Notifications: run-out warnings, posts needing attention and failed posts, sent to a webhook
(``NOTIFY_WEBHOOK_URL``: a JSON body POSTed with httpx) and/or a command (``NOTIFY_COMMAND``:
the same JSON on its stdin).

- **Deduplicated**: one message per cause per account per day (the account's own day, given by
  the caller). The keys sent are kept in a small state file, so a restart does not send the
  day's messages again.
- **Never blocking**: ``send`` only puts the notice on a bounded queue (a full queue drops the
  notice, logged); one worker task delivers, each channel with its own timeout.
- **Retried** with exponential backoff (5xx, 408, 429, no connection, a command that failed or
  timed out); a 4xx is not retried.
- **No secrets**: the body carries the account, the cause, the message and a few ids, each
  string passed through ``scrub`` (the log redactor); the command gets the environment it is
  handed (the composition root strips secrets from it); the webhook URL, which may hold a
  token, is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shlex
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import structlog

from atroposd.errors import ConfigError

log = structlog.get_logger("atroposd")

CAUSES = ("runout", "needs_attention", "failed")
KEEP_DAYS = 7  # keys older than this are forgotten
Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Notice:
    """One message: why, for which account, on which (account-local) day."""

    cause: str
    account: str
    day: date
    message: str
    fields: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What deduplication compares: cause, account, day."""
        return f"{self.day.isoformat()}|{self.cause}|{self.account}"


class SentKeys:
    """The notices already sent (``cause|account|day``), in a JSON file written atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: set[str] = set()
        with contextlib.suppress(FileNotFoundError, ValueError, OSError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._keys = {str(k) for k in raw.get("sent", [])}

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        """Remember ``key`` in memory (``save`` writes it)."""
        self._keys.add(key)

    def discard(self, key: str) -> None:
        """Forget ``key`` (a notice given up on may be sent again; ``save`` writes it)."""
        self._keys.discard(key)

    def save(self, today: date) -> None:
        """Write the keys of the last ``KEEP_DAYS`` days (blocking: call it off the loop).

        The loop may claim keys meanwhile: this works on a copy (``set.copy`` and
        ``difference_update`` run whole under the GIL; iterating the live set would not)."""
        oldest = (today - timedelta(days=KEEP_DAYS)).isoformat()
        keys = self._keys.copy()
        old = {k for k in keys if k.split("|", 1)[0] < oldest}
        self._keys.difference_update(old)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump({"sent": sorted(keys - old)}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


def check_webhook_url(url: str) -> None:
    """``ConfigError`` unless ``url`` is an http(s) URL with a host. The message never shows
    the value: a webhook URL often holds its token."""
    try:
        parsed = httpx.URL(url)
        usable = parsed.scheme in ("http", "https") and bool(parsed.host)
    except (httpx.InvalidURL, ValueError, TypeError):
        usable = False
    if not usable:
        raise ConfigError(
            "NOTIFY_WEBHOOK_URL: not an http:// or https:// URL with a host"
            " (the value is not shown: it may hold a token)"
        )


class Undelivered(Exception):
    """One delivery attempt failed; ``retry`` says whether another could succeed."""

    def __init__(self, why: str, retry: bool) -> None:
        super().__init__(why)
        self.retry = retry


@dataclass(frozen=True)
class Delivery:
    """How hard to try: per-attempt timeout, attempts, first backoff (doubling, capped)."""

    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 2.0
    most: float = 300.0
    queue: int = 256


class Notifier:
    """Dedupe, queue and deliver notices; ``run`` is the worker (a supervised task)."""

    def __init__(
        self,
        sent: SentKeys,
        *,
        webhook_url: str | None = None,
        command: str | None = None,
        env: Mapping[str, str] | None = None,
        scrub: Callable[[str], str] = lambda text: text,
        delivery: Delivery | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sent = sent
        self._now = now
        self._url = webhook_url or None
        try:
            self._argv = shlex.split(command) if command else []
        except ValueError as exc:  # not the value: it may carry a token
            raise ConfigError(
                f"NOTIFY_COMMAND: cannot split it like a shell would: {exc}"
            ) from None
        self._env = dict(env) if env is not None else {}
        self._scrub = scrub
        self.delivery = delivery or Delivery()
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(self.delivery.queue)
        self.delivered = 0  # notices that reached every configured channel
        self.dropped = 0  # notices lost to a full queue

    @property
    def configured(self) -> bool:
        """True when there is somewhere to send to."""
        return bool(self._url or self._argv)

    def claim(self, notice: Notice) -> bool:
        """True the first time (this day) the notice's cause and account are seen."""
        if notice.key in self.sent:
            return False
        self.sent.add(notice.key)
        return True

    def send(self, notice: Notice) -> bool:
        """Claim and queue ``notice`` (never blocks); False when already sent today."""
        if not self.claim(notice):
            return False
        self.enqueue(notice)
        return True

    def enqueue(self, notice: Notice) -> None:
        """Queue an already claimed notice for the worker."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            self.sent.discard(notice.key)  # not sent: its next occasion today may send it
            self.dropped += 1
            log.warning("notify_dropped", cause=notice.cause, account=notice.account)

    def body(self, notice: Notice, now: datetime) -> dict[str, Scalar]:
        """The JSON sent: fixed keys, then the notice's own fields; strings scrubbed."""
        clean = {
            k: self._scrub(v) if isinstance(v, str) else v
            for k, v in notice.fields.items()
            if k not in ("source", "cause", "account", "day", "message", "at")
        }
        return {
            "source": "atroposd",
            "cause": notice.cause,
            "account": notice.account,
            "day": notice.day.isoformat(),
            "message": self._scrub(notice.message),
            "at": now.astimezone(UTC).isoformat(timespec="seconds"),
            **clean,
        }

    async def run(self) -> None:
        """Deliver queued notices one at a time, forever."""
        async with httpx.AsyncClient(timeout=self.delivery.timeout, follow_redirects=False) as http:
            while True:
                notice = await self._queue.get()
                try:
                    await self._deliver(http, notice)
                finally:
                    self._queue.task_done()

    async def _deliver(self, http: httpx.AsyncClient, notice: Notice) -> None:
        with contextlib.suppress(OSError):  # a full disk must not stop the message
            await asyncio.to_thread(self.sent.save, notice.day)
        if not self.configured:
            return
        data = json.dumps(self.body(notice, self._now())).encode()
        done = []
        if self._url:
            done.append(await self._retried("webhook", notice, lambda: self._post(http, data)))
        if self._argv:
            done.append(await self._retried("command", notice, lambda: self._run_command(data)))
        if all(done):
            self.delivered += 1
            log.info("notify_sent", cause=notice.cause, account=notice.account)
        elif not any(done):  # it reached no one: the next occasion today may send it again
            self.sent.discard(notice.key)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self.sent.save, notice.day)

    async def _retried(
        self, channel: str, notice: Notice, attempt: Callable[[], Awaitable[None]]
    ) -> bool:
        d = self.delivery
        last, n = "", 0
        for n in range(1, d.attempts + 1):
            try:
                await attempt()
                return True
            except Undelivered as exc:
                last, retry = str(exc), exc.retry
            if not retry or n == d.attempts:
                break
            wait = min(d.most, d.backoff * 2 ** (n - 1))
            await asyncio.sleep(wait * random.uniform(0.8, 1.0))
        log.warning(
            "notify_failed",
            channel=channel,
            cause=notice.cause,
            account=notice.account,
            error=last,
            attempts=n,
        )
        return False

    async def _post(self, http: httpx.AsyncClient, data: bytes) -> None:
        assert self._url is not None
        try:
            response = await http.post(
                self._url, content=data, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:  # never str(exc): it may quote the URL and its token
            raise Undelivered(type(exc).__name__, retry=True) from None
        except (httpx.InvalidURL, ValueError) as exc:  # a URL httpx cannot use: no retry
            raise Undelivered(type(exc).__name__, retry=False) from None
        code = response.status_code
        if 200 <= code < 300:
            return
        raise Undelivered(f"HTTP {code}", retry=code >= 500 or code in (408, 429))

    async def _run_command(self, data: bytes) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=self._env,
            )
        except OSError as exc:
            raise Undelivered(f"cannot start the command: {exc.strerror}", retry=False) from None
        try:
            await asyncio.wait_for(proc.communicate(data), self.delivery.timeout)
        except TimeoutError:
            await _end(proc)
            raise Undelivered("the command timed out", retry=True) from None
        except asyncio.CancelledError:  # the daemon stops: leave no hook command behind
            await asyncio.shield(_end(proc))
            raise
        if proc.returncode != 0:
            raise Undelivered(f"the command exited {proc.returncode}", retry=True)


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Kill a command that is still running, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()
