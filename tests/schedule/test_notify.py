"""The notifier: one message per cause per account per day (kept across restarts), retried with
backoff, never blocking its caller, no secret in the body. Real HTTP on loopback, a real
command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from atroposd.errors import ConfigError
from atroposd.log import Redactor
from atroposd.notify import Delivery, Notice, Notifier, SentKeys, check_webhook_url
from tests.schedule.hook import hook_server, refused_url
from tests.support import wait_for

FAST = Delivery(timeout=2.0, attempts=3, backoff=0.01, most=0.05, queue=8)
DAY = date(2026, 3, 2)


def notice(cause: str = "runout", account: str = "alice", day: date = DAY) -> Notice:
    return Notice(cause, account, day, f"{account}: {cause}", {"platform": "youtube"})


async def deliver(notifier: Notifier, *notices: Notice) -> list[bool]:
    """Send, then let the worker finish everything queued."""
    worker = asyncio.create_task(notifier.run())
    try:
        sent = [notifier.send(n) for n in notices]
        await asyncio.wait_for(notifier._queue.join(), 30)
        return sent
    finally:
        worker.cancel()


def test_one_message_per_cause_per_account_per_day_kept_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "notifications.json"
    with hook_server() as hook:
        first = Notifier(SentKeys(state), webhook_url=hook.url, delivery=FAST)
        sent = asyncio.run(
            deliver(
                first,
                notice(),
                notice(),  # same cause, account, day: not again
                notice(account="bob"),
                notice(cause="failed"),
                notice(day=date(2026, 3, 3)),  # the next day: again
            )
        )
        assert sent == [True, False, True, True, True]
        # A restart (a new notifier on the same state file) sends none of today's again.
        again = Notifier(SentKeys(state), webhook_url=hook.url, delivery=FAST)
        assert asyncio.run(deliver(again, notice(), notice(account="bob"))) == [False, False]
    got = sorted((b["cause"], b["account"], b["day"]) for b in hook.bodies)
    assert got == [
        ("failed", "alice", "2026-03-02"),
        ("runout", "alice", "2026-03-02"),
        ("runout", "alice", "2026-03-03"),
        ("runout", "bob", "2026-03-02"),
    ]
    assert hook.bodies[0]["source"] == "atroposd" and hook.bodies[0]["platform"] == "youtube"


def test_a_server_error_is_retried_with_backoff_a_refusal_is_not(tmp_path: Path) -> None:
    with hook_server(answers=[503, 502]) as hook:
        notifier = Notifier(SentKeys(tmp_path / "n.json"), webhook_url=hook.url, delivery=FAST)
        asyncio.run(deliver(notifier, notice()))
        assert hook.requests == 3 and len(hook.bodies) == 1 and notifier.delivered == 1
    with hook_server(answers=[404]) as hook:
        notifier = Notifier(SentKeys(tmp_path / "m.json"), webhook_url=hook.url, delivery=FAST)
        asyncio.run(deliver(notifier, notice()))
        assert hook.requests == 1 and notifier.delivered == 0


def test_the_command_gets_the_json_on_stdin_with_the_environment_it_is_given(
    tmp_path: Path,
) -> None:
    out = tmp_path / "got.json"
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "body = json.load(sys.stdin)\n"
        f"open({str(out)!r}, 'w').write(json.dumps({{'body': body, 'env': dict(os.environ)}}))\n"
    )
    redactor = Redactor()
    redactor.pin("tok-SECRET-123")
    notifier = Notifier(
        SentKeys(tmp_path / "n.json"),
        command=f"{sys.executable} {script}",
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        scrub=redactor.scrub,
        delivery=FAST,
        now=lambda: datetime(2026, 3, 2, 12, tzinfo=UTC),
    )
    leaky = Notice("failed", "alice", DAY, "upload refused for tok-SECRET-123", {"error": "x"})
    asyncio.run(deliver(notifier, leaky))
    got = json.loads(out.read_text())
    assert got["body"]["cause"] == "failed" and got["body"]["at"] == "2026-03-02T12:00:00+00:00"
    assert "tok-SECRET-123" not in out.read_text()
    assert "PYTHONPATH" not in got["env"] and got["env"]["LANG"] == "C.UTF-8"


def test_send_returns_at_once_whatever_the_hook_does_and_the_queue_is_bounded(
    tmp_path: Path,
) -> None:
    async def main(url: str) -> tuple[list[bool], int]:
        notifier = Notifier(SentKeys(tmp_path / f"{len(url)}.json"), webhook_url=url, delivery=FAST)
        worker = asyncio.create_task(notifier.run())
        try:
            await asyncio.sleep(0)
            # No await between the sends: each returns without waiting on the hook.
            sent = [notifier.send(notice(account=f"a{i}")) for i in range(FAST.queue + 5)]
            return sent, notifier.dropped
        finally:
            worker.cancel()

    with hook_server(hang=True) as hook:
        sent, dropped = asyncio.run(main(hook.url))
        assert all(sent) and dropped >= 4  # the worker holds one; the queue holds 8
    sent, dropped = asyncio.run(main(refused_url()))
    assert all(sent) and dropped >= 4


def test_a_notice_given_up_on_is_sent_again_later_that_day(tmp_path: Path) -> None:
    """A hook down for the whole retry span loses nothing for the day: the next run-out check
    (or the next failed post) sends it once the hook is back; then it is not sent again, also
    after a restart."""
    state = tmp_path / "n.json"
    down = [503] * FAST.attempts

    async def twice(notifier: Notifier) -> tuple[list[bool], int, list[bool]]:
        first = await deliver(notifier, notice())
        delivered = notifier.delivered
        # The hook is back (it answers 200 now): the same notice goes, once.
        return first, delivered, await deliver(notifier, notice(), notice())

    with hook_server(answers=down) as hook:
        notifier = Notifier(SentKeys(state), webhook_url=hook.url, delivery=FAST)
        first, delivered, second = asyncio.run(twice(notifier))
        assert first == [True] and delivered == 0
        assert second == [True, False] and notifier.delivered == 1
        assert hook.requests == FAST.attempts + 1 and len(hook.bodies) == 1
        again = Notifier(SentKeys(state), webhook_url=hook.url, delivery=FAST)
        assert asyncio.run(deliver(again, notice())) == [False]


def test_a_webhook_url_that_is_no_url_is_a_config_error_that_does_not_show_it() -> None:
    for url in (
        "http://[::1/hook?token=s3cr3t-hook",
        "hooks.example.com/x?token=s3cr3t-hook",
        "ftp://example.com/s3cr3t-hook",
        "http:///s3cr3t-hook",
    ):
        with pytest.raises(ConfigError) as err:
            check_webhook_url(url)
        assert "NOTIFY_WEBHOOK_URL" in str(err.value) and "s3cr3t" not in str(err.value)
    for url in ("http://127.0.0.1:9/hook", "https://hooks.example.com/services/T0/B0/xyz"):
        check_webhook_url(url)


def test_a_command_still_running_when_the_daemon_stops_is_killed(tmp_path: Path) -> None:
    """Stopping the worker (the daemon's stop cancels it) leaves no hook command behind."""
    pid_file = tmp_path / "pid"
    script = tmp_path / "hang.py"
    script.write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n"
    )
    notifier = Notifier(
        SentKeys(tmp_path / "n.json"),
        command=f"{sys.executable} {script}",
        env={"PATH": "/usr/bin:/bin"},
        delivery=Delivery(timeout=600.0, attempts=1),
    )

    def started() -> bool:
        return pid_file.exists() and bool(pid_file.read_text())

    async def main() -> None:
        worker = asyncio.create_task(notifier.run())
        notifier.send(notice())
        await asyncio.to_thread(wait_for, started, 30.0, "the hook command started")
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker

    asyncio.run(main())
    pid = int(pid_file.read_text())
    # Reaped by the worker before it ended: no such process any more.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_notify_command_that_cannot_be_split_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        Notifier(SentKeys(tmp_path / "n.json"), command='notify-send "unclosed s3cr3t')
    assert "NOTIFY_COMMAND" in str(err.value) and "s3cr3t" not in str(err.value)


def test_keys_claimed_on_the_loop_while_a_worker_thread_saves_them(tmp_path: Path) -> None:
    """``save`` runs in a worker thread while the loop claims new keys: it must never fail
    with 'Set changed size during iteration' (that ended the notifier's worker)."""
    keys = SentKeys(tmp_path / "n.json")
    for i in range(5000):
        keys.add(f"2026-03-02|runout|a{i}")
    errors: list[Exception] = []
    saves = 0
    stop = threading.Event()

    def saver() -> None:
        nonlocal saves
        while not stop.is_set():
            try:
                keys.save(DAY)
            except RuntimeError as exc:
                errors.append(exc)
                return
            saves += 1

    thread = threading.Thread(target=saver)
    thread.start()
    try:
        i = 0
        while not errors and thread.is_alive() and i < 50_000:
            keys.add(f"2026-03-02|failed|b{i}")
            i += 1
        wait_for(lambda: saves > 0 or errors or not thread.is_alive(), 30.0, "a save")
    finally:
        stop.set()
        thread.join(30)
    assert not errors and saves > 0
    assert "2026-03-02|failed|b0" in keys


def test_a_notice_dropped_from_a_full_queue_can_be_sent_at_its_next_occasion(
    tmp_path: Path,
) -> None:
    async def main() -> tuple[list[bool], int, bool]:
        notifier = Notifier(SentKeys(tmp_path / "n.json"), delivery=FAST)
        # No worker yet: the queue (8) fills, the ninth is dropped.
        sent = [notifier.send(notice(account=f"a{i}")) for i in range(FAST.queue + 1)]
        dropped = notifier.dropped
        worker = asyncio.create_task(notifier.run())
        try:
            await asyncio.wait_for(notifier._queue.join(), 30)
            return sent, dropped, notifier.send(notice(account=f"a{FAST.queue}"))
        finally:
            worker.cancel()

    sent, dropped, again = asyncio.run(main())
    assert all(sent) and dropped == 1 and again
