"""Facebook Page Reels beyond the shared suite: processing errors, the guarded ``finish``,
native scheduling, the Page cap, faults on every step, tokens per account.

Each runs the real provider against the real emulator over loopback (``harness.run``); posts go
through the daemon's own publisher on a real ledger.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from atroposd.domain import Attention, Post, PostState
from atroposd.errors import PermanentError, RateLimited
from atroposd.providers.base import Credentials, RemotePhase
from tests.providers.harness import ACCOUNT, Harness, Scenario, default_media, make_request, run
from tests.providers.test_facebook_conformance import FACEBOOK
from tests.support import Emulator, make_clip

S = PostState
GRAPH_STEPS = ("token", "page", "start", "finish", "status", "list")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("facebook") / "clip.mp4")


def go(emulator: Emulator, media: Path, scenario: Scenario, **changes: Any) -> None:
    run(FACEBOOK, emulator, replace(make_request(media), **changes), scenario)


async def fb(h: Harness, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    resp = await h.ctl.request(method, f"/_emulator/facebook/{path}", json=body)
    resp.raise_for_status()
    return resp.json()


async def seen(h: Harness, step: str) -> int:
    """Requests the emulator saw on ``step`` since ``watch`` (a rule that never fires)."""
    rules = [r for r in await h.faults_left() if r["step"] == step and r["nth"] == 10**6]
    return int(rules[0]["seen"])


async def watch(h: Harness, step: str) -> None:
    """Count the requests on ``step`` from now on."""
    rule = {"platform": "facebook", "step": step, "nth": 10**6, "action": "delay"}
    (await h.ctl.post("/_emulator/faults", json=[rule])).raise_for_status()


def usage(minutes: int) -> dict[str, str]:
    entry = {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": minutes}
    buc = {"102030405060708": [entry]}
    return {"X-Business-Use-Case-Usage": json.dumps(buc)}


def graph_error(code: int, message: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "is_transient": True,
            "fbtrace_id": "Ab1",
        }
    }


def video_error(code: int, subcode: int | None) -> dict[str, Any]:
    """A Video API upload error as Graph words it (providers.md §4.5), without is_transient."""
    err: dict[str, Any] = {
        "message": "There was a problem uploading your video file.",
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "Ab2",
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


# -- processing ---------------------------------------------------------------------------------


def test_a_processing_error_fails_the_post_with_facebooks_reason(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        body = {"code": 1363008, "message": "The video codec is not supported"}
        await fb(h, "POST", "processing_errors", body)
        done = await h.post()
        assert done.state is S.FAILED, (done.state, done.last_error)
        assert "The video codec is not supported" in (done.last_error or "")
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_a_permanent_rejection_fails_with_metas_words(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        words = "This video cannot be published on this Page."
        body = {
            "error": {
                "message": "(#100) Invalid parameter",
                "type": "OAuthException",
                "code": 100,
                "error_user_msg": words,
                "fbtrace_id": "Ab3",
            }
        }
        await h.fault("session", "status", code=400, body=body)
        done = await h.post()
        assert done.state is S.FAILED, (done.state, done.last_error)
        assert words in (done.last_error or "")
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_a_local_refusal_fails_the_post_without_a_request(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        planned = h.pipeline.plan(h.request, "facebook")
        far = datetime.now(UTC) + timedelta(days=40)
        h.pipeline.ledger.set_fields(planned.id, publish_at=far)
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.FAILED and "30 days" in (done.last_error or ""), done
        assert h.sent == [], "a local check made a request"

    go(emulator, media, scenario)


# -- the guarded finish ---------------------------------------------------------------------------


def test_finish_dropped_after_the_commit_and_a_failing_status_still_posts_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        await watch(h, "finish")
        await h.fault("publish", "commit_then_drop")
        await h.fault("poll", "status", code=503)  # and Facebook's status fails once after
        done = await h.post(result.ref)
        assert await h.faults_left() == [r for r in await h.faults_left() if r["nth"] == 10**6]
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["id"] == done.remote_id and post["sha256"] == h.request.sha256
        assert await seen(h, "finish") == 1, "finish was sent again after its answer was lost"
        steps = [to for _, to, _ in h.pipeline.ledger.history(done.id)]
        assert steps.count(S.PUBLISHING.value) >= 1

    go(emulator, media, scenario)


def test_status_reads_the_pages_reels_when_the_reel_looks_unpublished(
    emulator: Emulator, media: Path
) -> None:
    """A published reel's own status shows it; the Page's listing is read before a READY
    answer can let a finish go out, so a reel Facebook lists as published is never READY."""

    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        await watch(h, "list")
        done = await h.follow(result)
        assert done.state is S.PUBLISHED
        assert await seen(h, "list") >= 1, "READY was answered without reading the Page's reels"
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


# -- scheduling ---------------------------------------------------------------------------------


# A publish_at scheduled on Facebook, confirmed once Facebook shows it published (and not while
# it still shows it scheduled after its time): tests/providers/test_facebook_confirm.py
# A publish_at too near to schedule: tests/providers/test_facebook_schedule.py


def test_publish_at_beyond_thirty_days_is_refused_without_a_request(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        far = datetime.now(UTC) + timedelta(days=31)
        with pytest.raises(PermanentError, match="30 days"):
            h.provider.validate(replace(h.request, publish_at=far))
        assert h.sent == []

    go(emulator, media, scenario)


# -- the Page cap ------------------------------------------------------------------------------


async def capped(h: Harness, other: Path) -> Post:
    """Post the test clip with the Page cap at 1, then ``other``: it waits at the cap."""
    await fb(h, "POST", "reels_cap", {"limit": 1})
    first = await h.post()
    assert first.state is S.PUBLISHED
    planned = h.pipeline.plan(replace(make_request(other), account=ACCOUNT), "facebook")
    for _ in range(20):  # upload, polls, then the refused finish
        await h.pipeline.publisher.work(planned.id)
        waiting = h.pipeline.ledger.get(planned.id)
        assert waiting is not None and waiting.state is not S.FAILED, waiting
        if waiting.retry_at is not None and waiting.state is S.PUBLISHING:
            break
    assert waiting.state is S.PUBLISHING and waiting.retry_at is not None, waiting
    return waiting


def test_the_page_cap_defers_the_post_until_the_window_frees(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    other = make_clip(tmp_path / "second.mp4", seconds=1.0, seed=8, bitrate="2M")

    async def scenario(h: Harness) -> None:
        before = h.pipeline.clock.now()
        waiting = await capped(h, other)
        assert waiting.retry_at is not None
        assert "minutes; the Page's reels cap is reached" in (waiting.last_error or ""), waiting
        assert timedelta(hours=23, minutes=59) <= waiting.retry_at - before
        assert waiting.retry_at - before <= timedelta(hours=24, minutes=2)
        assert len(await h.posts()) == 1, "the capped reel was posted"
        await fb(h, "POST", "clock", {"advance_seconds": 24 * 3600})
        done = await h.pipeline.drive(waiting.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert len(await h.posts()) == 2

    go(emulator, media, scenario)


def test_a_reel_that_lapses_while_the_cap_holds_it_is_uploaded_again_and_posted_once(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    """ADR 0012: Facebook let the unfinished reel expire during the wait; nothing was published
    from it (its status and the Page's reels say so), so a new reel is uploaded, not failed."""
    other = make_clip(tmp_path / "second.mp4", seconds=1.0, seed=9, bitrate="2M")

    async def scenario(h: Harness) -> None:
        waiting = await capped(h, other)
        assert (await fb(h, "POST", "expire_reels"))["expired"] == 1
        await fb(h, "POST", "clock", {"advance_seconds": 24 * 3600})
        done = await h.pipeline.drive(waiting.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        assert done.remote_id != waiting.remote_id, "the lapsed reel was finished"
        posts = await h.posts()
        assert len(posts) == 2 and posts[-1]["id"] == done.remote_id
        states = [to for _, to, _ in h.pipeline.ledger.history(done.id)]
        assert states[states.index(S.PUBLISHING.value) :].count(S.READY.value) == 1, states

    go(emulator, media, scenario)


# -- faults on every step --------------------------------------------------------------------------


def throttled(code: int, minutes: int) -> dict[str, Any]:
    """A Graph throttling answer with the usage header's regain time (no Retry-After)."""
    body = graph_error(code, f"(#{code}) Request limit reached")
    return {"action": "status", "code": 400, "body": body, "headers": usage(minutes)}


def rule(step: str, nth: int = 1, **action: Any) -> dict[str, Any]:
    return {"platform": "facebook", "step": step, "nth": nth, **action}


# Each group is one post with several faults (each fires once, on its own request): the
# classes of fault are all here, at the cost of five posts instead of one post per fault.
FAULTS = {
    "server-errors-on-every-graph-step": [
        rule("token", action="status", code=503),
        rule("page", action="status", code=429),
        rule("start", action="status", code=500),
        rule("status", action="status", code=503),
        rule("list", action="status", code=500),
        rule("finish", action="status", code=503),
    ],
    "dropped-connections": [
        rule("start", action="drop"),
        rule("rupload", nth=3, action="drop"),
        rule("finish", action="drop"),
    ],
    "rupload-before-and-after-storing": [
        rule("rupload", nth=2, action="status", code=503),  # before the chunk is stored
        rule("rupload", nth=4, action="commit_then_drop"),  # after it is stored
    ],
    "throttling-4-17-32-with-usage-headers": [
        rule("finish", **throttled(4, 1)),
        rule("finish", nth=2, **throttled(32, 2)),
        rule("status", **throttled(17, 1)),
    ],
    "video-api-upload-errors": [
        rule("start", action="status", code=400, body=video_error(6000, None)),
        rule("rupload", nth=2, action="status", code=400, body=video_error(6000, 1363030)),
        rule("rupload", nth=4, action="status", code=400, body=video_error(6000, 1363019)),
    ],
}


@pytest.mark.parametrize("group", list(FAULTS))
def test_faults_on_every_step_end_in_exactly_one_post(
    emulator: Emulator, media: Path, group: str
) -> None:
    async def scenario(h: Harness) -> None:
        (await h.ctl.post("/_emulator/faults", json=FAULTS[group])).raise_for_status()
        done = await h.post()
        assert await h.faults_left() == [], "a fault never fired"
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and post["id"] == done.remote_id

    go(emulator, media, scenario)


@pytest.mark.parametrize("code", [4, 32])
def test_throttling_waits_as_long_as_the_usage_header_says(
    emulator: Emulator, media: Path, code: int
) -> None:
    async def scenario(h: Harness) -> None:
        body = graph_error(code, f"(#{code}) Request limit reached")
        await h.fault("session", "status", code=400, body=body, headers=usage(7))
        with pytest.raises(RateLimited) as info:
            await h.upload()
        assert info.value.retry_after == 7 * 60 and info.value.code == str(code)
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_a_token_expiring_between_upload_and_finish_is_renewed_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        saved = len(h.creds.saved)
        await h.control("expire_tokens", platform="facebook")
        done = await h.follow(result)
        assert done.state is S.PUBLISHED
        assert len(h.creds.saved) == saved + 1, "expected exactly one token renewal"
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


# -- accounts -----------------------------------------------------------------------------------


def test_a_dead_token_parks_only_that_accounts_facebook(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        h.creds.save("bob", "facebook", Credentials("", refresh_token="sandbox:bob:login"))
        await h.control("revoke", platform="facebook", account=ACCOUNT)
        alice = h.pipeline.plan(h.request, "facebook")
        bob = h.pipeline.plan(replace(h.request, account="bob"), "facebook")
        dead = await h.pipeline.drive(alice.id, 15.0)
        live = await h.pipeline.drive(bob.id, 15.0)
        assert dead.state is S.NEEDS_ATTENTION and dead.attention == Attention.LOGIN, dead
        assert "Facebook" in (dead.last_error or "") or "facebook" in (dead.last_error or "")
        assert live.state is S.PUBLISHED, (live.state, live.last_error)
        [post] = await h.posts()
        assert post["account"] == "bob"

    go(emulator, media, scenario)


def test_a_page_the_login_does_not_manage_fails_the_post_saying_what_to_check(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        public_only = {"id": "102030405060708", "name": "Someone else's Page"}  # no token
        await h.ctl.post(
            "/_emulator/faults",
            json=[rule("page", action="status", code=200, body=public_only)],
        )
        done = await h.post()
        assert done.state is S.FAILED, (done.state, done.last_error)
        assert "must manage that Page" in (done.last_error or ""), done.last_error
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_each_account_posts_to_its_own_page(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        h.creds.save("bob", "facebook", Credentials("", refresh_token="sandbox:bob:login"))
        for account in (ACCOUNT, "bob"):
            done = await h.pipeline.drive(
                h.pipeline.plan(replace(h.request, account=account), "facebook").id, 15.0
            )
            assert done.state is S.PUBLISHED, (done.state, done.last_error)
        pages = {r["account"]: r["page_id"] for r in await fb(h, "GET", "reels")}
        assert set(pages) == {ACCOUNT, "bob"} and pages[ACCOUNT] != pages["bob"]

    go(emulator, media, scenario)


# -- captions -----------------------------------------------------------------------------------


def test_a_long_caption_is_fitted_to_the_safe_reels_limit(emulator: Emulator, media: Path) -> None:
    caption = "A reel about words. " + ("Ünïcode 🎬 words " * 300).strip() + "\n\n#reels #shorts"

    async def scenario(h: Harness) -> None:
        planned = h.pipeline.plan(h.request, "facebook", sidecar=False)  # the caption file
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert len(post["caption"].encode("utf-16-le")) // 2 <= 2200
        assert post["caption"].endswith("#reels #shorts")

    go(emulator, media, scenario, description=caption)


# -- settings ------------------------------------------------------------------------------


def test_the_graph_version_and_host_are_settings(emulator: Emulator, media: Path) -> None:
    binding = replace(
        FACEBOOK,
        overrides={
            "META_GRAPH_VERSION": "v27.0",
            "FACEBOOK_GRAPH_BASE": emulator.url + "/facebook",
        },
    )

    async def scenario(h: Harness) -> None:
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        paths = {r.url.path for r in h.sent}
        assert paths and all("/v27.0/" in p for p in paths), sorted(paths)
        assert any(p.startswith("/facebook/video-upload/v27.0/") for p in paths)

    run(binding, emulator, make_request(media), scenario)


def test_resuming_a_reel_that_failed_processing_starts_a_new_one(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await fb(h, "POST", "processing_errors", {"message": "Bad codec"})
        first = await h.upload()
        assert first.ref is not None
        deadline = time.monotonic() + 10.0
        status = await h.provider.status(ACCOUNT, first.ref)
        while status.phase is not RemotePhase.FAILED:  # processing fails after 0.3 s
            assert time.monotonic() < deadline, status
            await asyncio.sleep(0.05)
            status = await h.provider.status(ACCOUNT, first.ref)
        again = await h.upload(resume=first.ref)
        assert again.remote_id != first.remote_id and again.resumed_from == 0
        done = await h.follow(again)
        assert done.remote_id == again.remote_id and len(await h.posts()) == 1

    go(emulator, media, scenario)
