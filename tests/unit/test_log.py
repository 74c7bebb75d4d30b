"""Logging: secrets are redacted everywhere; JSON lines carry timestamp, level and event."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import structlog

from atroposd.log import REDACTED, Redactor, configure


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def run(redactor: Redactor, **event: object) -> dict[str, object]:
    return dict(redactor(None, "info", dict(event)))


def test_registered_secret_value_is_removed_everywhere() -> None:
    r = Redactor()
    r.add("s3cr3t-value", None, "")
    out = run(
        r,
        event="uploaded with s3cr3t-value",
        detail={"inner": ["x s3cr3t-value y", {"deep": "s3cr3t-value"}]},
    )
    assert "s3cr3t-value" not in json.dumps(out)
    assert out["event"] == f"uploaded with {REDACTED}"


def test_bearer_token_is_removed() -> None:
    out = run(Redactor(), event="request", header="Bearer ya29.a0AfB_xyz-123")
    assert out["header"] == f"Bearer {REDACTED}"


@pytest.mark.parametrize("param", ["access_token", "upload_id", "refresh_token", "client_secret"])
def test_query_string_secrets_are_removed(param: str) -> None:
    url = f"https://up.example/v3/videos?part=snippet&{param}=AbC123xyz&alt=json"
    out = run(Redactor(), event="put", url=url)
    assert out["url"] == f"https://up.example/v3/videos?part=snippet&{param}={REDACTED}&alt=json"


@pytest.mark.parametrize(
    "key", ["token", "access_token", "client_secret", "password", "Authorization", "api_key"]
)
def test_values_of_secret_named_keys_are_removed(key: str) -> None:
    out = run(Redactor(), event="e", **{key: "plain-value-42"})
    assert out[key] == REDACTED


def test_secret_named_keys_inside_nested_dicts_and_lists() -> None:
    out = run(
        Redactor(),
        event="e",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": "json"},
        accounts=[{"name": "a", "refresh_token": "1//0abc"}, {"password": "hunter22"}],
        tokens=["tok-one-111", "tok-two-222"],
    )
    text = json.dumps(out)
    for secret in ("dXNlcjpwYXNz", "1//0abc", "hunter22", "tok-one-111", "tok-two-222"):
        assert secret not in text
    assert out["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert out["accounts"][0]["name"] == "a"  # type: ignore[index]


def test_exception_values_are_scrubbed() -> None:
    r = Redactor()
    r.add("topsecretvalue")
    out = run(r, event="e", error=RuntimeError("failed with topsecretvalue"))
    assert out["error"] == f"RuntimeError: failed with {REDACTED}"


def test_ordinary_values_are_left_alone() -> None:
    out = run(Redactor(), event="uploaded", clip="a/b.mp4", bytes=123, ok=True)
    assert out == {"event": "uploaded", "clip": "a/b.mp4", "bytes": 123, "ok": True}


def test_configured_json_lines_have_timestamp_level_event_and_no_secret() -> None:
    stream = io.StringIO()
    r = Redactor()
    r.add("fernet-key-abcdef")
    configure(r, stream=stream, json_lines=True)
    log = structlog.get_logger()
    log.info("clip_uploaded", clip="x.mp4", key_used="fernet-key-abcdef")
    log.warning("retry_scheduled", url="https://h/x?access_token=zzz999")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(ln["event"], ln["level"]) for ln in lines] == [
        ("clip_uploaded", "info"),
        ("retry_scheduled", "warning"),
    ]
    for line in lines:
        stamp = datetime.fromisoformat(line["timestamp"])
        assert stamp.utcoffset() == timedelta(0)
    assert "fernet-key-abcdef" not in stream.getvalue()
    assert "zzz999" not in stream.getvalue()
    assert lines[0]["clip"] == "x.mp4"


def test_configured_level_filters_debug() -> None:
    stream = io.StringIO()
    configure(Redactor(), stream=stream, json_lines=True)
    structlog.get_logger().debug("noise")
    assert stream.getvalue() == ""


def test_capture_logs_sees_redacted_values() -> None:
    r = Redactor()
    configure(r, stream=io.StringIO(), json_lines=True)
    with structlog.testing.capture_logs(processors=[r]) as logs:
        structlog.get_logger().info("auth_refreshed", access_token="ya29.zzz")
    assert logs == [{"event": "auth_refreshed", "access_token": REDACTED, "log_level": "info"}]


def _token(n: int, kind: str = "ya29.a0Af") -> str:
    return f"{kind}{n:08d}xQ7-tok"


def test_refreshed_tokens_are_not_kept_forever() -> None:
    r = Redactor(recent=100)
    keys = [(f"acct{i}", "youtube") for i in range(10)]
    for n in range(50_000):  # months of hourly refreshes over ten logins
        r.current(keys[n % 10], _token(n), f"1//refresh-{n % 10:04d}")
    assert r.kept() <= 10 * 2 + 100


def test_live_tokens_stay_redacted_however_many_others_come_and_go() -> None:
    r = Redactor(recent=50)
    r.pin("settings-secret-value")
    r.current(("mine", "youtube"), "ya29.live-access-token", "1//live-refresh-token")
    for n in range(5_000):
        r.current(("other", "x"), _token(n, "x-tok-"), _token(n, "x-ref-"))
        r.add(_token(n, "loose-"))
    text = "a ya29.live-access-token b 1//live-refresh-token c settings-secret-value d"
    assert r.scrub(text) == f"a {REDACTED} b {REDACTED} c {REDACTED} d"
    assert r.scrub(_token(4_999, "x-tok-")) == REDACTED  # the other login's live one too


def test_a_token_just_replaced_is_still_redacted_until_it_ages_out() -> None:
    r = Redactor(recent=3)
    key = ("mine", "youtube")
    for n in range(5):
        r.current(key, _token(n))
    assert r.scrub(_token(3)) == REDACTED  # retired one refresh ago
    assert r.scrub(_token(4)) == REDACTED  # live
    assert r.scrub(_token(0)) == _token(0)  # retired four refreshes ago, beyond recent=3
    assert r.scrub(f"Bearer {_token(0)}") == f"Bearer {REDACTED}"  # its usual shape still is


def test_same_credentials_loaded_again_change_nothing() -> None:
    r = Redactor(recent=2)
    for _ in range(100):
        r.current(("mine", "youtube"), "ya29.same-token", "1//same-refresh")
    r.add("recent-one-1", "recent-two-2")
    assert r.kept() == 4
    assert r.scrub("ya29.same-token recent-one-1") == f"{REDACTED} {REDACTED}"


def test_values_sharing_a_prefix_embedded_or_overlapping() -> None:
    r = Redactor()
    r.add("abcdefgh-secret-long-value", "abcdef", "abcdefgh-secret")
    assert r.scrub("xxabcdefgh-secret-long-valueyy") == f"xx{REDACTED}yy"  # longest wins
    assert r.scrub("abcdefgh-other abcdefgh-secret!") == f"{REDACTED}gh-other {REDACTED}!"
    assert r.scrub("abcde abcdeX") == "abcde abcdeX"  # near misses stay
    assert r.scrub("s" * 5) == "s" * 5


def test_short_values_are_ignored() -> None:
    r = Redactor()
    r.add("abc12", None, "")
    r.pin("xy")
    r.current("k", "12345")
    assert r.kept() == 0
    assert r.scrub("abc12 xy 12345") == "abc12 xy 12345"
