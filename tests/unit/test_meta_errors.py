"""Meta's error envelope, usage headers, upload host errors and version setting, classified
(providers.md §2.1, §2.3, §2.4, §3.4). Answers are real ``httpx.Response`` objects."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from atroposd.errors import (
    ConfigError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.providers.base import ProviderContext
from atroposd.providers.meta import (
    DEFAULT_GRAPH_VERSION,
    Usage,
    classify,
    classify_rupload,
    graph_root,
    graph_version,
    is_auth_error,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def graph(status: int, code: int, subcode: int | None = None, **extra: Any) -> httpx.Response:
    err: dict[str, Any] = {"message": f"m{code}", "type": "OAuthException", "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    err.update(extra)
    return httpx.Response(status, json={"error": err})


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        *[(graph(400, 190, s), ReauthRequired) for s in (458, 460, 463, 464, 467, 492)],
        (graph(401, 190, 463), ReauthRequired),
        (graph(400, 102), ReauthRequired),
        *[(graph(400, c), RateLimited) for c in (4, 17, 32, 613, 80001, 80002, 80014)],
        (httpx.Response(429, text="slow down"), RateLimited),
        (graph(400, 9, 2207042), QuotaExhausted),
        (graph(400, -2, 2207020), SessionLost),
        (graph(400, 9007, 2207027), TransientError),
        (graph(400, -1, 2207032), TransientError),
        (graph(400, -2, 2207003), TransientError),
        (graph(400, -1, 2207053), TransientError),
        (graph(400, 1), TransientError),
        (graph(400, 2), TransientError),
        (graph(400, 100, is_transient=True), TransientError),
        (graph(500, 100), TransientError),
        (httpx.Response(502, text="<html>bad gateway</html>"), TransientError),
        (graph(400, 100), PermanentError),
        (graph(400, 352, 2207026), PermanentError),
        (graph(400, 1, 2207057), PermanentError),
        (graph(400, 10), PermanentError),
        (graph(403, 200), PermanentError),
        (graph(400, 25, 2207050), PermanentError),
    ],
)
def test_graph_errors_map_onto_atroposd_errors(response: httpx.Response, kind: type) -> None:
    err = classify("instagram", response, "step", NOW)
    assert type(err) is kind, (err, response.content)
    assert err.platform == "instagram" and err.status == response.status_code


def test_a_validation_error_carries_metas_user_message_and_code() -> None:
    resp = graph(400, 100, 2207026, error_user_msg="The video format is not supported.")
    err = classify("instagram", resp, "create container", NOW)
    assert isinstance(err, PermanentError)
    assert (err.code, err.platform_message) == ("100/2207026", "The video format is not supported.")
    plain = classify("instagram", graph(400, 100), "create container", NOW)
    assert (plain.code, plain.platform_message) == ("100", "m100")


def test_the_cap_parks_until_the_regain_time_or_a_day() -> None:
    err = classify("instagram", graph(400, 9, 2207042), "media_publish", NOW)
    assert isinstance(err, QuotaExhausted) and err.retry_at == NOW + timedelta(hours=24)
    usage = json.dumps({"1": [{"estimated_time_to_regain_access": 30}]})
    resp = httpx.Response(
        400, json=graph(400, 9, 2207042).json(), headers={"x-business-use-case-usage": usage}
    )
    later = classify("instagram", resp, "media_publish", NOW)
    assert isinstance(later, QuotaExhausted) and later.retry_at == NOW + timedelta(minutes=30)


def test_retry_after_wins_over_usage_headers_and_malformed_headers_are_ignored() -> None:
    headers = {
        "retry-after": "5",
        "x-business-use-case-usage": json.dumps({"1": [{"estimated_time_to_regain_access": 9}]}),
    }
    err = classify("facebook", httpx.Response(429, headers=headers), "s", NOW)
    assert isinstance(err, RateLimited) and err.retry_after == 5
    broken = httpx.Response(400, json=graph(400, 4).json(), headers={"x-app-usage": "{nope"})
    assert Usage.of(broken) == Usage()
    full = httpx.Response(200, headers={"x-app-usage": json.dumps({"call_count": 100})})
    assert Usage.of(full).throttled and Usage.of(full).regain_minutes == 0


def test_auth_errors_are_recognised_whatever_the_http_status() -> None:
    assert is_auth_error(graph(400, 190, 463)) and is_auth_error(graph(200, 102))
    assert is_auth_error(httpx.Response(401, json={"debug_info": {"type": "OAuthException"}}))
    assert not is_auth_error(graph(400, 100)) and not is_auth_error(httpx.Response(500))


@pytest.mark.parametrize(
    ("status", "info", "kind"),
    [
        (
            400,
            {"retriable": False, "type": "ParameterValidationError", "message": "m"},
            PermanentError,
        ),
        (400, {"retriable": True, "type": "ProcessingFailedError", "message": "m"}, TransientError),
        (503, {"retriable": False, "type": "X", "message": "m"}, TransientError),
        (401, {"retriable": False, "type": "OAuthException", "message": "m"}, ReauthRequired),
        (404, {"retriable": False, "type": "NotFoundError", "message": "m"}, SessionLost),
        (429, {"retriable": True, "type": "X", "message": "m"}, RateLimited),
    ],
)
def test_upload_host_errors_map_from_their_debug_info(
    status: int, info: dict[str, Any], kind: type
) -> None:
    err = classify_rupload("instagram", httpx.Response(status, json={"debug_info": info}), "u", NOW)
    assert type(err) is kind
    assert err.code == info["type"] and err.platform_message == "m"
    graph_shaped = classify_rupload("instagram", graph(400, 4), "u", NOW)
    assert isinstance(graph_shaped, RateLimited)


def context(sandbox: bool, **overrides: str) -> ProviderContext:
    return ProviderContext(
        http=None,  # type: ignore[arg-type]  # not used by the version setting
        credentials=None,  # type: ignore[arg-type]
        clock=None,  # type: ignore[arg-type]
        sandbox=sandbox,
        sandbox_url="http://127.0.0.1:9/",
        chunk_size=1,
        secrets={},
        overrides=overrides,
    )


def test_the_graph_version_is_a_setting_with_a_current_default() -> None:
    assert DEFAULT_GRAPH_VERSION == "v26.0"
    assert graph_version(context(False)) == "v26.0"
    assert graph_version(context(False, META_GRAPH_VERSION="v25.0")) == "v25.0"
    assert graph_root(context(False), "instagram") == "https://graph.facebook.com/v26.0"
    assert graph_root(context(True), "instagram") == "http://127.0.0.1:9/instagram/v26.0"
    with pytest.raises(ConfigError, match="META_GRAPH_VERSION"):
        graph_version(context(False, META_GRAPH_VERSION="26"))
