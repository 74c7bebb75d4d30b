"""How the Facebook provider reads a reel's status (providers.md §4.1 step 4, §4.6) and what it
refuses locally, before any request (§4.3, §4.4).

``read_status`` is a pure function of Facebook's answer: the bodies below are Facebook's shapes,
including ones our emulator never sends (``upload_failed``, ``expired``, a publishing phase in
progress with processing done), so the rule that decides whether ``finish`` may go out again is
checked on all of them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.errors import PermanentError
from atroposd.providers import REGISTRY
from atroposd.providers.base import ProviderContext, RemotePhase
from atroposd.providers.facebook.reels import read_status
from tests.providers.harness import MemoryCredentials, make_request
from tests.support import make_clip

VID = "2210969582438920"


def body(video: str, up: dict[str, Any], proc: dict[str, Any], pub: dict[str, Any]) -> Any:
    return {
        "id": VID,
        "status": {
            "video_status": video,
            "uploading_phase": up,
            "processing_phase": proc,
            "publishing_phase": pub,
        },
    }


DONE = {"status": "complete"}
NOT = {"status": "not_started"}
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def sched(publish_time: object) -> dict[str, Any]:
    """A publishing phase Facebook shows ``scheduled`` for ``publish_time``."""
    return {"status": "complete", "publish_status": "scheduled", "publish_time": publish_time}


CASES = [
    # Meta's Postman example: uploaded, nothing else started -> finish may go out
    (body("processing", DONE, NOT, NOT), RemotePhase.READY),
    # processed but never published: still READY (video_status "ready" is not "published")
    (body("ready", DONE, DONE, NOT), RemotePhase.READY),
    (
        body("uploading", {"status": "in_progress", "bytes_transferred": 4096}, NOT, NOT),
        RemotePhase.UPLOADING,
    ),
    # finish taken, processing still running: never READY again
    (
        body("processing", DONE, {"status": "in_progress"}, {"status": "in_progress"}),
        RemotePhase.PROCESSING,
    ),
    (body("ready", DONE, DONE, {"status": "in_progress"}), RemotePhase.PROCESSING),
    (
        body("ready", DONE, DONE, {"status": "complete", "publish_status": "published"}),
        RemotePhase.PUBLISHED,
    ),
    (
        body("ready", DONE, DONE, {"status": "not_started", "publish_status": "scheduled"}),
        RemotePhase.PUBLISHED,
    ),
    # scheduled: Facebook publishes it at its time (the pipeline records it scheduled) ...
    (body("ready", DONE, DONE, sched("2026-12-06T10:30:00+0000")), RemotePhase.PUBLISHED),
    # ... but once that time has passed and it still says scheduled: not published yet
    (body("ready", DONE, DONE, sched("2026-12-06T09:59:00+0000")), RemotePhase.PROCESSING),
    (body("ready", DONE, DONE, sched(int(NOW.timestamp()) - 60)), RemotePhase.PROCESSING),
    (
        body("error", DONE, {"status": "error", "errors": [{"code": 1, "message": "bad"}]}, NOT),
        RemotePhase.FAILED,
    ),
    (body("upload_failed", {"status": "error"}, NOT, NOT), RemotePhase.FAILED),
    # lapsed before any finish: uploaded again (ADR 0012); after publishing started: a post
    # may exist, so never again
    (body("expired", DONE, NOT, NOT), RemotePhase.EXPIRED),
    (body("expired", DONE, DONE, {"status": "in_progress"}), RemotePhase.FAILED),
    (
        body("ready", DONE, DONE, {"status": "error", "errors": [{"message": "blocked"}]}),
        RemotePhase.FAILED,
    ),
]


@pytest.mark.parametrize(("answer", "phase"), CASES)
def test_a_reel_is_ready_for_finish_only_when_nothing_was_published(
    answer: Any, phase: RemotePhase
) -> None:
    got = read_status(VID, answer, 10_000, NOW)
    assert got.phase is phase, got
    if phase is RemotePhase.UPLOADING:
        assert got.offset == 4096
    if phase is RemotePhase.PUBLISHED:
        assert got.url == f"https://www.facebook.com/reel/{VID}" and got.remote_id == VID


def test_a_scheduled_reel_without_a_publish_time_is_read_against_the_time_we_asked() -> None:
    answer = body("ready", DONE, DONE, {"status": "complete", "publish_status": "scheduled"})
    ahead, past = NOW + timedelta(minutes=1), NOW - timedelta(minutes=1)
    assert read_status(VID, answer, 10_000, NOW, ahead).phase is RemotePhase.PUBLISHED
    assert read_status(VID, answer, 10_000, NOW, past).phase is RemotePhase.PROCESSING


def test_a_failed_reel_says_facebooks_reason() -> None:
    answer = body(
        "error",
        DONE,
        {"status": "error", "errors": [{"code": 1363008, "message": "Unsupported codec"}]},
        NOT,
    )
    got = read_status(VID, answer, 10_000, NOW)
    assert got.reason == "processing: Unsupported codec (1363008)"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("fb") / "clip.mp4")


def provider_for(sandbox: bool, ids: dict[str, str] | None = None) -> Any:
    http = httpx.AsyncClient()
    ctx = ProviderContext(
        http=http,
        credentials=MemoryCredentials("facebook", {}),
        clock=SystemClock(),
        sandbox=sandbox,
        sandbox_url="http://127.0.0.1:9",
        chunk_size=256 * 1024,
        secrets={"META_CLIENT_ID": "id", "META_CLIENT_SECRET": "secret"},
        overrides={},
        account_ids=lambda platform, account: (ids or {}).get(account),
    )
    return REGISTRY["facebook"](ctx)


def test_validate_refuses_locally_what_facebook_would(clip: Path) -> None:
    provider = provider_for(sandbox=True)
    request = make_request(clip)
    provider.validate(request)
    refused = {
        "smaller than 1 KB": replace(request, size=1000),
        "larger than 2 GB": replace(request, size=2 * 1000**3 + 1),
        "always public": replace(request, privacy="private"),
        "30 days": replace(request, publish_at=datetime.now(UTC) + timedelta(days=31)),
    }
    for why, bad in refused.items():
        with pytest.raises(PermanentError, match=why):
            provider.validate(bad)


def test_production_needs_the_accounts_page_id(clip: Path) -> None:
    request = make_request(clip)
    with pytest.raises(PermanentError, match="page_id"):
        provider_for(sandbox=False).validate(request)
    provider_for(sandbox=False, ids={request.account: "102030405060708"}).validate(request)
