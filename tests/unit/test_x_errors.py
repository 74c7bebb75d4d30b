"""X's answers as typed errors, and the rate-limit headers kept from every answer (§7.5, §7.6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from atroposd.errors import (
    AuthExpired,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.providers.x.errors import POST_STEP, Limits, classify, is_duplicate

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
PROBLEM = "https://api.x.com/2/problems/"


def answer(status: int, kind: str, detail: str, **headers: str) -> httpx.Response:
    body = {"title": "t", "detail": detail, "type": kind, "status": status}
    head = {k.replace("_", "-"): v for k, v in headers.items()}
    return httpx.Response(status, json=body, headers=head)


def at(seconds: int) -> str:
    return str(int((NOW + timedelta(seconds=seconds)).timestamp()))


@pytest.mark.parametrize(
    ("resp", "group", "oauth1", "kind"),
    [
        (answer(400, PROBLEM + "invalid-request", "bad"), "init", False, PermanentError),
        (answer(401, "about:blank", "Unauthorized"), "append", False, AuthExpired),
        (answer(401, "about:blank", "Unauthorized"), "append", True, ReauthRequired),
        (answer(403, PROBLEM + "client-forbidden", "no project"), "tweet", False, PermanentError),
        (answer(404, PROBLEM + "resource-not-found", "gone"), "append", False, SessionLost),
        (answer(503, "about:blank", "Service Unavailable"), "append", False, TransientError),
        (answer(429, PROBLEM + "usage-capped", "cap"), "init", False, QuotaExhausted),
    ],
)
def test_answers_are_classified(
    resp: httpx.Response, group: str, oauth1: bool, kind: type[Exception]
) -> None:
    error = classify(resp, "step", group, NOW, oauth1=oauth1)
    assert type(error) is kind
    assert error.platform == "x" and error.status == resp.status_code
    assert error.platform_message == resp.json()["detail"]


def test_a_429_on_a_media_step_waits_until_the_named_reset() -> None:
    resp = answer(429, PROBLEM + "rate-limit-exceeded", "Too Many Requests",
                  x_rate_limit_remaining="0", x_rate_limit_reset=at(42))  # fmt: skip
    error = classify(resp, "append", "append", NOW)
    assert isinstance(error, RateLimited) and error.retry_after == 42
    assert error.code == "rate-limit-exceeded"


def test_a_429_on_the_post_parks_until_the_reset_and_the_daily_cap_wins() -> None:
    window = answer(429, PROBLEM + "rate-limit-exceeded", "x", x_rate_limit_reset=at(600))
    error = classify(window, "post", POST_STEP, NOW)
    assert isinstance(error, QuotaExhausted) and error.retry_at == NOW + timedelta(seconds=600)
    daily = answer(429, PROBLEM + "rate-limit-exceeded", "x", x_rate_limit_reset=at(600),
                   x_app_limit_24hour_remaining="0", x_app_limit_24hour_reset=at(7200))  # fmt: skip
    error = classify(daily, "post", POST_STEP, NOW)
    assert isinstance(error, QuotaExhausted) and error.retry_at == NOW + timedelta(hours=2)


def test_nothing_is_sent_into_a_used_up_window() -> None:
    limits = Limits.empty()
    ok = httpx.Response(200, headers={"x-rate-limit-remaining": "3", "x-rate-limit-reset": at(60)})
    limits.note("alice", "append", ok)
    limits.check("alice", "append", NOW)  # remaining: fine
    spent = httpx.Response(
        200, headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": at(60)}
    )
    limits.note("alice", "append", spent)
    with pytest.raises(RateLimited) as info:
        limits.check("alice", "append", NOW)
    assert info.value.retry_after == 60
    limits.check("bob", "append", NOW)  # another user's window
    limits.check("alice", "append", NOW + timedelta(seconds=61))  # after the reset
    limits.note("alice", POST_STEP, spent)
    with pytest.raises(QuotaExhausted):
        limits.check("alice", POST_STEP, NOW)


def test_the_duplicate_refusal_is_recognised() -> None:
    dup = answer(403, "about:blank",
                 "You are not allowed to create a Tweet with duplicate content.")  # fmt: skip
    assert is_duplicate(dup)
    assert not is_duplicate(answer(403, PROBLEM + "client-forbidden", "no project"))
