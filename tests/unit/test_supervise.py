"""``app.supervise``: a long-lived task that fails is logged once per failure and started again."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from atroposd.app import supervise


def test_a_failing_task_is_restarted_while_its_siblings_go_on() -> None:
    runs: list[int] = []
    ticks: list[int] = []

    async def watcher() -> None:
        runs.append(1)
        if len(runs) <= 2:
            raise NotADirectoryError(20, "Not a directory", "/media/usb/queue")
        if len(runs) == 3:
            raise RuntimeError("a bug")

    async def publisher() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.001)

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            other = tg.create_task(supervise("publisher", publisher))
            await supervise("watcher", watcher, first=0.001, most=0.004)
            assert not other.done()
            other.cancel()

    with capture_logs() as logs:
        asyncio.run(main())
    assert len(runs) == 4 and ticks
    failed = [e for e in logs if e["event"] == "task_failed"]
    assert [e["task"] for e in failed] == ["watcher"] * 3
    assert (
        failed[0]["error"] == "NotADirectoryError: [Errno 20] Not a directory: '/media/usb/queue'"
    )
    assert [e["retry_in"] for e in failed] == [0.001, 0.002, 0.004]
    # The world (an OSError) gets one plain line; a bug gets its traceback.
    assert [bool(e.get("exc_info")) for e in failed] == [False, False, True]
