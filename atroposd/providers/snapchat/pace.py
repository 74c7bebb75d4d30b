"""Staying under Snap's request rates instead of running into 429s.

The Marketing API allows 10 requests/s per access token and 20 requests/s per app, as
averages, and sends no wait signal with its 429 (providers.md §6.4). A token bucket per
account and one for the app, each a little under Snap's numbers, space the requests out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Bucket:
    """A token bucket: ``rate`` requests per second on average, bursts of ``burst``."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens, self._stamp = burst, clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    async def take(self) -> None:
        """Wait until a request may go (first come, first served)."""
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1.0


class Pace:
    """One bucket per account (its token) and one for the whole app."""

    def __init__(self, per_token: float = 8.0, per_app: float = 16.0) -> None:
        self._per_token = per_token
        self._app = Bucket(per_app, per_app)
        self._accounts: dict[str, Bucket] = {}

    async def take(self, account: str) -> None:
        """Wait for room under both limits."""
        bucket = self._accounts.get(account)
        if bucket is None:
            bucket = self._accounts[account] = Bucket(self._per_token, self._per_token)
        await bucket.take()
        await self._app.take()
