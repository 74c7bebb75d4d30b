"""X's own hazards (providers.md §7), each ending in exactly one post on the emulator.

Every scenario runs the real provider against the real emulator and posts through the
daemon's publisher on a real ledger (``x_support.run_x``: the provider reads the publisher's
clock, so X's reset times pass when the publisher waits for them).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from atroposd.domain import PostState
from atroposd.errors import (
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from atroposd.providers import REGISTRY
from atroposd.providers.base import RemotePhase, RemoteRef
from tests.providers.conformance import one_post_of
from tests.providers.harness import ACCOUNT, Binding, Harness, Scenario, context, make_request
from tests.providers.test_x_conformance import X_OAUTH1, X_OAUTH2
from tests.providers.x_support import appends, run_x, sent_to, x_media
from tests.support import Emulator, make_clip

SEGMENT = 256 * 1024


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = x_media(tmp_path_factory.mktemp("x") / "clip.mp4")
    assert path.stat().st_size > 2 * SEGMENT, "the clip must take three segments"
    return path


def _go(emulator: Emulator, media: Path, scenario: Scenario, binding: Binding = X_OAUTH2) -> None:
    run_x(binding, emulator, make_request(media), scenario)


def _reset_in(h: Harness, seconds: int) -> int:
    return int(h.pipeline.clock.now().timestamp()) + seconds


async def _fault(h: Harness, step: str, nth: int = 1, **rule: object) -> None:
    body = {"platform": "x", "step": step, "nth": nth, **rule}
    (await h.ctl.post("/_emulator/faults", json=[body])).raise_for_status()


# -- rate limits ----------------------------------------------------------------------------


def test_429_on_a_segment_waits_until_the_named_reset_then_posts_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        reset = _reset_in(h, 30)
        headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
        await _fault(h, "append", nth=2, action="status", code=429, headers=headers)
        with pytest.raises(RateLimited) as info:
            await h.upload()
        assert info.value.retry_after == pytest.approx(30, abs=1)
        before = len(appends(h))
        with pytest.raises(RateLimited):  # the window is used up: no segment is sent into it
            await h.upload(resume=h.refs[-1])
        assert len(appends(h)) == before
        done = await h.post(h.refs[-1])
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        assert h.pipeline.clock.now().timestamp() >= reset
        await one_post_of(h)
        assert len(appends(h)) == 4, "a confirmed segment was sent again"  # 2 + 2 after the wait

    _go(emulator, media, scenario)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-rate-limit-remaining": "0"},  # the user's 100 posts per 15 minutes
        {"x-rate-limit-remaining": "5", "x-app-limit-24hour-remaining": "0"},  # the app's day
    ],
    ids=["user-15-min", "app-daily-cap"],
)
def test_post_limits_park_the_post_until_the_reset_without_spending_attempts(
    emulator: Emulator, media: Path, headers: dict[str, str]
) -> None:
    async def scenario(h: Harness) -> None:
        reset = _reset_in(h, 900)
        named = {k: v for k, v in headers.items()}
        for key in list(named):
            named[key.replace("-remaining", "-reset")] = str(reset)
        named.setdefault("x-rate-limit-reset", str(_reset_in(h, 60)))
        await _fault(h, "tweet", action="status", code=429, headers=named)
        planned = h.pipeline.plan(h.request, "x")
        await h.pipeline.publisher.work(planned.id)
        parked = h.pipeline.ledger.get(planned.id)
        assert parked is not None and parked.state is PostState.PUBLISHING
        assert parked.retry_at == datetime.fromtimestamp(reset, UTC)
        assert parked.attempts == 0, "a post limit spent an attempt"
        assert planned.id in h.pipeline.publisher.parked
        with pytest.raises(QuotaExhausted):  # not sent again before the reset
            await h.provider.publish(h.request, _ref_of(h, planned.id), h.save_ref)
        assert sent_to(h, "POST", "/2/tweets") == 1
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        assert sent_to(h, "POST", "/2/tweets") == 2
        await one_post_of(h)

    _go(emulator, media, scenario)


def _ref_of(h: Harness, post_id: int) -> RemoteRef:
    post = h.pipeline.ledger.get(post_id)
    assert post is not None and post.remote_ref
    return RemoteRef.from_json(post.remote_ref)


# -- segments -------------------------------------------------------------------------------


def test_503_on_a_segment_resumes_at_that_segment_and_posts_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await _fault(h, "append", nth=2, action="status", code=503)
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        await one_post_of(h)
        assert len(appends(h)) == 4  # 0, 1 (503), then 1, 2
        assert len(set(appends(h))) == 1, "the retry opened a second media"

    _go(emulator, media, scenario)


def test_segment_stored_but_its_answer_lost_is_sent_again_and_nothing_before_it(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await _fault(h, "append", nth=2, action="commit_then_drop")
        with pytest.raises(TransientError):
            await h.upload()
        [session] = await h.uploads()
        assert session["bytes_received"] == 2 * SEGMENT  # the server kept segment 1
        assert h.refs[-1].data["segments"] == "1"  # ... but confirmed only segment 0
        result = await h.upload(resume=h.refs[-1])
        assert result.resumed_from == SEGMENT, "segment 0 (confirmed) was sent again"
        await h.follow(result)
        post = await one_post_of(h)
        assert post["bytes"] == h.request.size

    _go(emulator, media, scenario)


# -- tokens ---------------------------------------------------------------------------------


def test_expired_oauth2_token_mid_upload_posts_once(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        expired: list[bool] = []

        def expire_midway(done: int, total: int) -> None:
            if not expired and 0 < done < total:
                expired.append(True)
                h.emulator.control("expire_tokens", {"platform": "x"})

        result = await h.upload(progress=expire_midway)
        assert expired and sent_to(h, "POST", "/2/oauth2/token") == 2
        await h.follow(result)
        await one_post_of(h)

    _go(emulator, media, scenario)


def test_rotated_refresh_token_is_stored_before_use_and_the_next_process_posts_with_it(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    first_login = X_OAUTH2.credentials(ACCOUNT)

    async def scenario(h: Harness) -> None:
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        stored = h.creds.load(ACCOUNT, "x")
        assert stored.refresh_token and stored.refresh_token != first_login.refresh_token
        assert h.creds.saved[0].refresh_token == stored.refresh_token  # saved, then used
        # The next process (a new provider on the same vault) refreshes with the new one.
        await h.control("expire_tokens", platform="x")
        async with httpx.AsyncClient(timeout=10) as http:
            provider = REGISTRY["x"](context(X_OAUTH2, h.emulator.url, http, h.creds))
            other = replace(h.request, description="Another clip, same login #shorts")
            ref = (await provider.upload(other, None, h.save_ref)).ref
            assert ref is not None
            phase = (await provider.status(ACCOUNT, ref)).phase
        assert phase in (RemotePhase.PROCESSING, RemotePhase.READY)
        assert h.creds.load(ACCOUNT, "x").refresh_token != stored.refresh_token  # rotated again
        # The spent one is dead: presenting it again is refused (and kills its family).
        form = {"grant_type": "refresh_token", "refresh_token": first_login.refresh_token or ""}
        spent = await h.ctl.post("/x/2/oauth2/token", data=form, auth=("cid", "csecret"))
        assert spent.status_code == 400
        await one_post_of(h)

    run_x(
        replace(X_OAUTH2, credentials=lambda account: first_login),
        emulator,
        make_request(media),
        scenario,
    )


def test_revoked_oauth1_token_needs_a_new_login(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.post()
        await h.control("revoke", platform="x", account=ACCOUNT)
        with pytest.raises(ReauthRequired) as info:
            await h.upload()
        assert info.value.status == 401
        await one_post_of(h)

    _go(emulator, media, scenario, X_OAUTH1)


# -- media lifetime and processing ----------------------------------------------------------


def test_media_expired_before_its_post_starts_over_and_posts_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        first = await h.upload()
        assert first.ref is not None and first.ref.data.get("finalized")
        await h.control("expire_uploads", platform="x")  # X forgot the media (~24 h later)
        h.pipeline.clock.advance(2.0)  # past check_after_secs
        status = await h.provider.status(ACCOUNT, first.ref)
        assert status.phase is RemotePhase.EXPIRED and "expired" in (status.reason or "")
        done = await h.post(first.ref)  # a ready post holding the expired handle
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        assert len(set(appends(h))) == 2, "the post did not start over with a new media"
        await one_post_of(h)

    _go(emulator, media, scenario)


@pytest.mark.parametrize(
    ("error", "words"),
    [
        # v1.1's documented shape (developer.x.com GET media/upload (STATUS), "failed response")
        ({"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"},
         "InvalidMedia: Unsupported video format"),
        (None, "processing failed"),  # v2's OpenAPI processing_info has no error object
    ],
    ids=["v1.1-error", "openapi-no-error"],
)  # fmt: skip
def test_processing_failure_fails_the_post_with_xs_words(
    emulator: Emulator, media: Path, error: dict[str, object] | None, words: str
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        media_id = result.ref.data["media_id"]
        info: dict[str, object] = {"state": "failed", "progress_percent": 100}
        if error is not None:
            info["error"] = error
        body = {"data": {"id": media_id, "media_key": f"13_{media_id}", "processing_info": info}}
        await _fault(h, "status", action="status", code=200, body=body, times=50)
        done = await h.post(result.ref)
        assert done.state is PostState.FAILED, (done.state, done.last_error)
        assert words in (done.last_error or "")
        assert await h.posts() == []
        assert sent_to(h, "POST", "/2/tweets") == 0

    _go(emulator, media, scenario)


def test_check_after_secs_is_honoured(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        info = {"state": "pending", "check_after_secs": 5, "progress_percent": 0}
        await _fault(
            h, "finalize", action="status", code=200, body={"data": {"processing_info": info}}
        )
        result = await h.upload()
        assert result.ref is not None
        before = len(h.sent)
        h.pipeline.clock.advance(4.9)
        assert (await h.provider.status(ACCOUNT, result.ref)).phase is RemotePhase.PROCESSING
        assert len(h.sent) == before, "asked X before check_after_secs"
        h.pipeline.clock.advance(0.2)
        await h.provider.status(ACCOUNT, result.ref)
        assert sent_to(h, "GET", "/2/media/upload") == 1

    _go(emulator, media, scenario)


# -- the commit -----------------------------------------------------------------------------


def test_lost_answer_to_the_post_is_found_in_the_timeline_not_posted_again(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await _fault(h, "tweet", action="commit_then_drop")
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        post = await one_post_of(h)
        assert done.remote_id == post["id"]
        assert sent_to(h, "POST", "/2/tweets") == 1, "the post was sent again"
        assert sent_to(h, "GET", "/tweets") >= 1  # the user's timeline was read

    _go(emulator, media, scenario)


def test_duplicate_refusal_of_a_second_send_finds_the_first_post(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        await h.follow(result)  # posted
        again = await h.provider.publish(h.request, result.ref, h.save_ref)  # X says 403
        post = await one_post_of(h)
        assert again.remote_id == post["id"]

    _go(emulator, media, scenario)


# -- text ---------------------------------------------------------------------------------


def test_text_over_the_accounts_weighted_limit_is_refused_offline(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        cjk = replace(h.request, description="漢" * 141)  # 282 weighted characters
        with pytest.raises(PermanentError) as info:
            h.provider.validate(cjk)
        assert "282" in str(info.value) and "280" in str(info.value)
        long_post = replace(cjk, options={"max_weighted_length": 25_000})
        h.provider.validate(long_post)  # a long-post account
        assert h.sent == []
        assert h.provider.capabilities.description.max_length == 280

    _go(emulator, media, scenario)


def test_oauth1_signs_every_request_afresh(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        done = await h.post()
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        api = [r for r in h.sent if "/2/" in r.url.path]
        assert api and all(r.headers["authorization"].startswith("OAuth ") for r in api)
        nonces = [r.headers["authorization"].split("oauth_nonce=")[1].split(",")[0] for r in api]
        assert len(set(nonces)) == len(nonces)

    _go(emulator, media, scenario, X_OAUTH1)


def test_a_second_clip_with_the_same_text_waits_for_a_human_not_a_blind_retry(
    emulator: Emulator, media: Path, tmp_path: Path
) -> None:
    other = make_clip(tmp_path / "other.mp4", seconds=1.0, seed=12, bitrate="1M")

    async def scenario(h: Harness) -> None:
        first = await h.post()
        assert first.state is PostState.PUBLISHED, (first.state, first.last_error)
        h.request = make_request(other)  # another clip, the same caption
        second = await h.post()
        assert second.state is PostState.NEEDS_ATTENTION, (second.state, second.last_error)
        assert "same text" in (second.last_error or "")
        assert sent_to(h, "POST", "/2/tweets") == 2
        assert len(await h.posts()) == 1

    _go(emulator, media, scenario)
