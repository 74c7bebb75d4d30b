"""Offline (no connection at all) is never a reason to give a post up."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from atroposd.errors import TransientError, Unreachable
from atroposd.pipeline.retry import Next, RetryPolicy
from atroposd.providers._http import guarded

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_connection_is_unreachable_naming_the_step() -> None:
    async def call() -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            url = f"http://127.0.0.1:{closed_port()}/upload"
            await guarded("youtube", "create upload session", lambda: http.post(url))

    with pytest.raises(Unreachable) as info:
        asyncio.run(call())
    assert isinstance(info.value, TransientError)
    assert "create upload session" in str(info.value) and info.value.code == "unreachable"


@pytest.mark.parametrize("attempt", [16, 17, 200, 5_000])  # a night, a week offline
def test_an_unreachable_platform_is_retried_past_max_attempts(attempt: int) -> None:
    decision = RetryPolicy().decide(Unreachable("offline", platform="youtube"), attempt, NOW)
    assert decision.next is Next.RETRY and decision.retry_at is not None
    assert NOW < decision.retry_at <= NOW + timedelta(hours=1)


def test_other_network_errors_still_give_up_after_max_attempts() -> None:
    error = TransientError("upload bytes: connection failed", platform="youtube")
    assert RetryPolicy().decide(error, 16, NOW).next is Next.FAIL
