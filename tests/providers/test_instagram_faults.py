"""A fault on every Instagram step ends as exactly one post (issue 6, must-show 3).

Each case installs emulator faults, then posts through the daemon's real Publisher (the
conformance harness): 5xx before the work, a dropped connection before it, the work done and the
connection dropped after it (bytes stored, token issued, post published), Meta's throttling codes
4 / 32 / 80002 with their usage headers, and a token refused with error 190.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.domain import PostState
from atroposd.errors import RateLimited
from atroposd.providers.meta import classify
from tests.providers.harness import Harness, default_media, make_request, run
from tests.providers.test_instagram_conformance import INSTAGRAM
from tests.support import Emulator

# Several faults in the publish phase each cost a backoff on the publisher's (fake) clock: allow
# them more than the suite's 15 s of it before the post would count as stuck.
PATIENT = replace(INSTAGRAM, publish_deadline_s=300.0)
STEPS = ("token", "container", "rupload", "status", "limit", "list", "publish")
EXPIRED = {
    "error": {
        "message": "Error validating access token: Session has expired.",
        "type": "OAuthException",
        "code": 190,
        "error_subcode": 463,
        "fbtrace_id": "x",
    }
}


def throttle(code: int, header: str, kind: str = "instagram") -> dict[str, Any]:
    usage = {"1": [{"type": kind, "call_count": 100, "estimated_time_to_regain_access": 2}]}
    value = usage if header == "X-Business-Use-Case-Usage" else {"call_count": 100}
    body = {"error": {"message": f"(#{code}) limit reached", "code": code, "fbtrace_id": "x"}}
    return {"action": "status", "code": 400, "body": body, "headers": {header: json.dumps(value)}}


CASES: dict[str, list[dict[str, Any]]] = {
    # before the work: one 503, then one dropped connection, on every step of one post
    "every-step-503": [{"step": s, "action": "status", "code": 503} for s in STEPS],
    "every-step-drop": [{"step": s, "action": "drop"} for s in STEPS],
    # the work done, then the answer lost (reads: status, limit are a plain drop already)
    **{
        f"{s}-commit-then-drop": [{"step": s, "action": "commit_then_drop"}]
        for s in ("token", "container", "rupload", "publish")
    },
    "rupload-drop-then-offset-503": [
        {"step": "rupload", "action": "drop", "nth": 2},
        {"step": "offset", "action": "status", "code": 503},
    ],
    "container-code-4": [{"step": "container", **throttle(4, "X-App-Usage")}],
    "publish-code-32": [{"step": "publish", **throttle(32, "X-Page-Usage", "pages")}],
    "status-code-80002": [{"step": "status", **throttle(80002, "X-Business-Use-Case-Usage")}],
    "rupload-429": [{"step": "rupload", "action": "status", "code": 429}],
    **{
        f"{s}-190-http-400": [{"step": s, "action": "status", "code": 400, "body": EXPIRED}]
        for s in ("container", "publish")
    },
    "rupload-401": [{"step": "rupload", "action": "status", "code": 401}],
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("instagram") / "clip.mp4")


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fault_on_any_step_still_makes_exactly_one_post(
    emulator: Emulator, media: Path, case: str
) -> None:
    async def scenario(h: Harness) -> None:
        rules = [{"platform": "instagram", **rule} for rule in CASES[case]]
        (await h.ctl.post("/_emulator/faults", json=rules)).raise_for_status()
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        fired = await h.faults_left()
        assert fired == [], f"a fault never fired: {fired}"
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and post["id"] == done.remote_id

    run(PATIENT, emulator, make_request(media), scenario)


@pytest.mark.parametrize(
    ("header", "value", "wait"),
    [
        ("X-Business-Use-Case-Usage", {"17": [{"estimated_time_to_regain_access": 7}]}, 420.0),
        ("X-Page-Usage", {"call_count": 100, "estimated_time_to_regain_access": 3}, 180.0),
        ("X-App-Usage", {"call_count": 100}, None),
    ],
)
def test_throttling_waits_as_long_as_the_usage_headers_say(
    header: str, value: dict[str, Any], wait: float | None
) -> None:
    from datetime import UTC, datetime

    body = {"error": {"message": "(#4) Application request limit reached", "code": 4}}
    resp = httpx.Response(400, json=body, headers={header: json.dumps(value)})
    err = classify("instagram", resp, "create container", datetime.now(UTC))
    assert isinstance(err, RateLimited) and err.retry_after == wait and err.code == "4"
