"""Retry and cancel through the API while the daemon runs; /readyz; /metrics from the ledger."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.api.support import LiveApi
from tests.support import wait_for


def _job(api: httpx.Client, clip: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        jobs = api.get("/api/jobs", params={"limit": 100}).json()["jobs"]
        return next((j for j in jobs if j["clip"] == clip), None)

    found: dict[str, Any] = wait_for(find, 60, f"the job of {clip}")
    return found


def _state(api: httpx.Client, job_id: int, *states: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/jobs/{job_id}").json()
        return job if job["state"] in states else None

    found: dict[str, Any] = wait_for(reached, 60, f"job {job_id} in {states}")
    return found


def test_a_failed_job_is_retried_and_a_waiting_one_cancelled(live: LiveApi) -> None:
    live.emulator.fault("create", code=400)
    live.ws.drop("refused", seed=31)
    with live.client() as api:
        job = _state(api, _job(api, "refused.mp4")["job_id"], "failed")
        assert job["success"] is False and job["finished"] and job["error"].startswith("youtube:")
        retried = api.post(f"/api/jobs/{job['job_id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["changed"] == [job["platforms"][0]["post_id"]]
        done = _state(api, job["job_id"], "published")
        assert done["success"] and done["platforms"][0]["url"]
        live.emulator.fault("create", code=503, headers={"Retry-After": "3600"})
        live.ws.drop("later", seed=32)
        waiting = _job(api, "later.mp4")

        def parked() -> bool:
            entry = api.get(f"/api/jobs/{waiting['job_id']}").json()["platforms"][0]
            return entry["state"] == "ready" and entry["next_attempt"] is not None

        wait_for(parked, 60, "the post parked until Retry-After")
        cancelled = api.post(f"/api/jobs/{waiting['job_id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["job"]["state"] == "cancelled"
        assert api.post(f"/api/jobs/{waiting['job_id']}/cancel").status_code == 409
        assert api.post("/api/jobs/424242/retry").status_code == 404


def test_readyz_and_metrics_read_the_daemon_and_the_ledger(live: LiveApi) -> None:
    live.emulator.fault("chunk", code=503)
    live.ws.drop("counted", seed=33)
    with live.client() as api:
        _state(api, _job(api, "counted.mp4")["job_id"], "published")
        ready = api.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "ready": True,
            "checks": {"ledger": True, "watcher": True, "scheduler": True},
        }
        scraped = api.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    assert samples[("atroposd_posts", (("platform", "youtube"), ("state", "published")))] >= 1
    assert samples[("atroposd_retries_total", (("cause", "error"), ("platform", "youtube")))] >= 1
    assert samples[("atroposd_uploaded_bytes", (("platform", "youtube"),))] > 0
    assert samples[("atroposd_last_published_timestamp_seconds", (("platform", "youtube"),))] > 0
    assert samples[("atroposd_ledger_bytes", ())] > 0
    assert samples[("atroposd_clips", ())] >= 1
    assert samples[("atroposd_watcher_scans_total", ())] >= 1
    assert ("atroposd_watcher_folders_unavailable", ()) in samples
    assert live.token not in scraped.text
