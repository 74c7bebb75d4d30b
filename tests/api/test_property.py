"""Must-show 4: requests generated from the app's own OpenAPI document (schemathesis, a fixed
seed, a bounded number of examples per operation) against the daemon's API: no 5xx, and every
answer matches the document. The committed docs/openapi.json is the app's (drift fails)."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from atroposd.api.openapi import REGENERATE, text
from tests.api.support import LiveApi
from tests.support import REPO, wait_for

EXAMPLES = 8  # per operation: enough to reach the error paths, small enough to stay fast


def test_the_committed_openapi_document_is_the_apps() -> None:
    committed = (REPO / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == text(), f"docs/openapi.json is stale: regenerate it with `{REGENERATE}`"


def _has_input(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


def test_generated_requests_find_no_server_error_and_no_schema_violation(live: LiveApi) -> None:
    live.ws.drop("prop", seed=3)  # one job in the ledger, so ids meet a real one too
    with live.client() as api:
        # ...and finished: a post still uploading would meet the faults other tests of this
        # session's daemon install
        wait_for(
            lambda: any(
                j["clip"] == "prop.mp4" and j["finished"]
                for j in api.get("/api/jobs", params={"limit": 100}).json()["jobs"]
            ),
            60,
            "the prop job finished",
        )
        doc: dict[str, Any] = api.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    headers = {"Authorization": f"Bearer {live.token}"}
    checks = [not_a_server_error, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    calls: list[str] = []
    runs = [(op, GenerationMode.POSITIVE) for op in operations]
    runs += [(op, GenerationMode.NEGATIVE) for op in operations if _has_input(op)]
    for operation, mode in runs:

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=live.url, headers=headers, timeout=30)
            calls.append(f"{case.method} {case.path} {response.status_code}")
            case.validate_response(response, checks=checks)

        run()
    statuses = {c.rsplit(" ", 1)[1] for c in calls}
    assert len(calls) >= len(operations) * 3, calls
    assert {"200", "400", "404", "422"} <= statuses, statuses
    assert not any(s.startswith("5") for s in statuses), calls
    assert json.dumps(doc)  # the document itself is served as JSON
