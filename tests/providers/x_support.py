"""Running X scenarios: the suite's harness with the provider on the pipeline's own clock.

X names its waits as absolute times (``x-rate-limit-reset``, unix seconds). The publisher's
clock in ``tests/providers/pipeline.py`` moves forward by itself when a post waits; the
provider reads the same clock here, so a reset "30 s from now" has passed when the publisher
comes back, without the test sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from atroposd.providers import REGISTRY
from tests.providers.harness import (
    ACCOUNT,
    Binding,
    Harness,
    MemoryCredentials,
    Scenario,
    context,
)
from tests.providers.pipeline import Pipeline
from tests.support import Emulator, make_clip
from tests.unit.support import FakeClock


class SharedClock:
    """Reads whichever clock the harness's current pipeline has."""

    def __init__(self, clock: Callable[[], FakeClock]) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return self._clock().now()

    def monotonic(self) -> float:
        return self._clock().monotonic()


def x_media(path: Path) -> Path:
    """A real MP4 of ~0.6 MB: three 256 KiB segments."""
    return make_clip(path, seconds=2.0, seed=11, bitrate="2M")


def run_x(
    binding: Binding, emulator: Emulator, request: Any, scenario: Scenario, options: Any = None
) -> None:
    """``harness.run`` with the provider on the pipeline's clock."""

    async def main() -> None:
        sent: list[httpx.Request] = []

        async def record(req: httpx.Request) -> None:
            sent.append(req)

        creds = MemoryCredentials(binding.name, {ACCOUNT: binding.credentials(ACCOUNT)})
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=10.0, event_hooks={"request": [record]})
            )
            ctl = await stack.enter_async_context(
                httpx.AsyncClient(base_url=emulator.url, timeout=10.0)
            )
            holder: list[Harness] = []
            ctx = replace(
                context(binding, emulator.url, http, creds),
                clock=SharedClock(lambda: holder[0].pipeline.clock),
            )
            provider = REGISTRY[binding.key](ctx)
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="x-")))
            pipeline = Pipeline.build(provider, home, binding.publish_deadline_s)
            harness = Harness(binding, provider, creds, emulator, ctl, request, sent, pipeline)
            holder.append(harness)
            stack.callback(lambda: harness.pipeline.close())
            await scenario(harness)

    asyncio.run(main())


def appends(h: Harness) -> list[str]:
    """The media ids of every APPEND the provider sent, in order."""
    return [r.url.path.split("/")[-2] for r in h.sent if r.url.path.endswith("/append")]


def sent_to(h: Harness, method: str, suffix: str) -> int:
    """How many requests the provider sent to a path ending in ``suffix``."""
    return sum(1 for r in h.sent if r.method == method and r.url.path.endswith(suffix))
