"""TikTok behaviours beyond the shared suite: creator_info rules, caps, rate limits, expired
upload URLs, processing failures, rotated refresh tokens, two accounts at once.

Each runs the real provider against the real emulator over loopback (``harness.run``); posts go
through the daemon's own publisher on a real ledger where the pipeline's answer matters.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.demo import make_clip
from atroposd.domain import PostState
from atroposd.errors import (
    ConfigError,
    PermanentError,
    QuotaExhausted,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from atroposd.providers import REGISTRY
from atroposd.providers.base import (
    Credentials,
    Provider,
    ProviderContext,
    RemotePhase,
    RemoteRef,
)
from atroposd.providers.tiktok.wire import status_of
from tests.providers.harness import (
    ACCOUNT,
    Harness,
    MemoryCredentials,
    context,
    make_request,
    run,
)
from tests.providers.tiktok_support import (
    CHUNK,
    INIT,
    PUT,
    TIKTOK,
    calls,
    control,
    go,
    publishes,
    quick,
    two_chunk_media,
)
from tests.support import Emulator


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_chunk_media(tmp_path_factory.mktemp("tiktok") / "clip.mp4")


# -- creator_info -------------------------------------------------------------------------------


def test_privacy_the_creator_does_not_allow_fails_naming_the_allowed_ones_before_any_upload(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        allowed = ["FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]  # a private account
        await control(h, "creator", account=ACCOUNT, privacy_level_options=allowed)
        done = await h.post()  # the account's privacy: PUBLIC_TO_EVERYONE (the default)
        assert done.state is PostState.FAILED, (done.state, done.last_error)
        assert "PUBLIC_TO_EVERYONE" in (done.last_error or "")
        assert "FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY" in (done.last_error or "")
        assert f"accounts.{ACCOUNT}.platforms.tiktok.privacy" in (done.last_error or "")
        assert calls(h, "creator_info/query/") == 1
        assert calls(h, INIT) == 0 and calls(h, PUT) == 0, "something was uploaded"
        assert await h.posts() == [] and await publishes(h) == []

    go(emulator, media, scenario)


def test_an_allowed_privacy_level_is_the_one_posted(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.follow(await h.upload())
        [publish] = await publishes(h)
        assert publish["post_info"]["privacy_level"] == "SELF_ONLY"
        [post] = await h.posts()
        assert post["id"] == publish["publish_id"], "a SELF_ONLY post has no public id"

    go(emulator, media, scenario, options={"privacy": "SELF_ONLY"})


def test_interactions_the_creator_turned_off_stay_off(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        off = {"comment_disabled": True, "duet_disabled": True, "stitch_disabled": True}
        await control(h, "creator", account=ACCOUNT, **off)
        await h.follow(await h.upload())  # the emulator refuses init unless they are off
        [publish] = await publishes(h)
        info = publish["post_info"]
        assert (info["disable_comment"], info["disable_duet"], info["disable_stitch"]) == (
            True,
            True,
            True,
        )
        assert (info["brand_content_toggle"], info["brand_organic_toggle"]) == (False, True)

    choices = {"disable_comment": False, "brand_organic_toggle": True}
    go(emulator, media, scenario, options=choices)


def test_account_switches_turn_interactions_off_when_the_creator_allows_them(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.follow(await h.upload())
        [publish] = await publishes(h)
        info = publish["post_info"]
        assert (info["disable_comment"], info["disable_duet"], info["disable_stitch"]) == (
            False,
            True,
            False,
        )

    go(emulator, media, scenario, options={"disable_duet": True})


# -- caps and rate limits -------------------------------------------------------------------------


def test_daily_cap_defers_the_post_to_the_reset_without_uploading(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await control(h, "daily_cap", cap=1)
        first = await h.post()
        assert first.state is PostState.PUBLISHED
        other = h.request.path.with_name("other.mp4")  # another clip, same creator, same day
        other.write_bytes(h.request.path.read_bytes() + b"\0")
        planned = h.pipeline.plan(make_request(other), "tiktok")
        before = calls(h, INIT), calls(h, PUT)
        await h.pipeline.publisher.work(planned.id)
        parked = h.pipeline.ledger.get(planned.id)
        assert parked is not None and parked.state is PostState.READY, parked
        assert parked.retry_at is not None
        wait = parked.retry_at - h.pipeline.clock.now()
        # TikTok's rolling day, from the provider's clock (the ledger's is the suite's own)
        assert timedelta(hours=23) < wait < timedelta(hours=24, minutes=1), wait
        assert parked.attempts == 0, "waiting for the cap is not a failed attempt"
        assert "spam_risk_too_many_posts" in (parked.last_error or "")
        assert (calls(h, INIT), calls(h, PUT)) == before, "a capped post sent its video"
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_status_rate_limit_waits_a_minute_instead_of_failing(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()  # one status/fetch at the end of the upload
        assert result.ref is not None
        for _ in range(29):  # 30 per minute per token
            await h.provider.status(ACCOUNT, result.ref)
        with pytest.raises(RateLimited) as info:
            await h.provider.status(ACCOUNT, result.ref)
        assert info.value.retry_after == 60.0 and info.value.code == "rate_limit_exceeded"

    go(emulator, media, scenario)


def test_init_rate_limit_defers_the_post(emulator: Emulator, tmp_path: Path) -> None:
    small = make_clip(tmp_path / "c.mp4", 3, 1.0, "180x320", "1M")  # one chunk, sent whole

    async def scenario(h: Harness) -> None:
        for _ in range(6):  # six inits a minute per token: a seventh would be throttled
            await h.upload()
        planned = h.pipeline.plan(h.request, "tiktok")
        await h.pipeline.publisher.work(planned.id)
        later = h.pipeline.ledger.get(planned.id)
        assert later is not None and later.state is PostState.READY, later
        assert later.retry_at is not None and later.retry_at > h.pipeline.clock.now()
        # A backlog meets the window minute after minute: parked each time, it never runs out
        # of attempts (a 429 is a counted attempt), and TikTok is not sent a doomed init.
        assert later.attempts == 0, "waiting for TikTok's minute is not a failed attempt"
        assert calls(h, INIT) == 6 and len(await publishes(h)) == 6

    run(TIKTOK, emulator, make_request(small), quick(scenario))


# -- processing -----------------------------------------------------------------------------------


def test_processing_failed_fails_the_post_with_the_platform_reason(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await control(h, "fail_processing", fail_reason="duration_check_failed")
        done = await h.post()
        assert done.state is PostState.FAILED, (done.state, done.last_error)
        assert "duration_check_failed" in (done.last_error or "")
        assert await h.posts() == []
        assert calls(h, INIT) == 1, "a failed video was posted again"

    go(emulator, media, scenario)


# -- tokens ---------------------------------------------------------------------------------------


def test_rotated_refresh_token_is_stored_and_the_old_one_refused(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        first = h.creds.load(ACCOUNT, "tiktok").refresh_token
        expired: list[bool] = []

        def expire_midway(done: int, total: int) -> None:
            if not expired and 0 < done < total:
                expired.append(True)
                h.emulator.control("expire_tokens", {"platform": "tiktok"})

        await h.follow(await h.upload(progress=expire_midway))
        tokens = [c.refresh_token for c in h.creds.saved]
        assert len(tokens) == 2 and len({first, *tokens}) == 3, "each refresh rotates"
        assert h.creds.load(ACCOUNT, "tiktok").refresh_token == tokens[-1]
        for old in (first, tokens[0]):  # refused once replaced
            resp = await h.ctl.post(
                "/tiktok/v2/oauth/token/",
                data={
                    "client_key": "k",
                    "client_secret": "s",
                    "grant_type": "refresh_token",
                    "refresh_token": old or "",
                },
            )
            assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_two_accounts_posting_at_once_each_use_their_own_token(
    emulator: Emulator, media: Path
) -> None:
    """Must-show 4: the old system leaked one account's token into another's uploads."""

    async def scenario(h: Harness) -> None:
        creds = MemoryCredentials("tiktok", {a: TIKTOK.credentials(a) for a in ("bob", "carol")})
        async with httpx.AsyncClient(timeout=10.0) as http:
            provider = REGISTRY["tiktok"](context(TIKTOK, h.emulator.url, http, creds))
            requests = [replace(h.request, account=a, description=f"by {a}") for a in creds_of()]
            results = await asyncio.gather(
                *(provider.upload(r, None, h.save_ref) for r in requests)
            )
            for req, result in zip(requests, results, strict=True):
                assert result.ref is not None
                await until_published(provider, req.account, result.ref)
        issued = {t["access_token"] for t in h.emulator.http.get("/_emulator/tokens").json()}
        by_account = {p["account"]: p for p in await publishes(h)}
        assert set(by_account) == {"bob", "carol"}
        assert by_account["bob"]["access_token"] != by_account["carol"]["access_token"]
        assert {p["access_token"] for p in by_account.values()} <= issued
        posts = {p["account"]: p for p in await h.posts()}
        assert posts["bob"]["caption"] == "by bob" and posts["carol"]["caption"] == "by carol"

    go(emulator, media, scenario)


def creds_of() -> tuple[str, str]:
    return ("bob", "carol")


async def until_published(provider: Provider, account: str, ref: RemoteRef) -> None:
    for _ in range(400):
        if (await provider.status(account, ref)).phase is RemotePhase.PUBLISHED:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("never published")


# -- local checks ---------------------------------------------------------------------------------


def test_caption_is_counted_in_utf16_units_offline(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        cap = h.provider.capabilities.description
        assert (cap.max_length, cap.counting.value) == (2200, "utf16_units")
        h.provider.validate(replace(h.request, description="😀" * 1100))  # 2,200 units
        with pytest.raises(PermanentError):
            h.provider.validate(replace(h.request, description="😀" * 1100 + "a"))
        with pytest.raises(PermanentError):
            h.provider.validate(replace(h.request, mime_type="video/x-matroska"))
        with pytest.raises(PermanentError):
            h.provider.validate(replace(h.request, size=4 * 10**9 + 1))
        with pytest.raises(PermanentError):  # branded content may not be private
            h.provider.validate(
                replace(h.request, options={"privacy": "SELF_ONLY", "brand_content_toggle": True})
            )
        assert h.sent == []

    go(emulator, media, scenario)


def test_hosts_are_settings() -> None:
    def ctx(sandbox: bool, secrets: dict[str, str], overrides: dict[str, str]) -> ProviderContext:
        return ProviderContext(
            http=httpx.AsyncClient(),
            credentials=MemoryCredentials("tiktok", {ACCOUNT: Credentials("")}),
            clock=SystemClock(),
            sandbox=sandbox,
            sandbox_url="http://127.0.0.1:9",
            chunk_size=CHUNK,
            secrets=secrets,
            overrides=overrides,
        )

    with pytest.raises(ConfigError, match="TIKTOK_CLIENT_KEY, TIKTOK_CLIENT_SECRET"):
        REGISTRY["tiktok"](ctx(False, {}, {}))
    prod = REGISTRY["tiktok"](
        ctx(False, {"TIKTOK_CLIENT_KEY": "k", "TIKTOK_CLIENT_SECRET": "s"}, {})
    )
    assert prod._ep.api_base == "https://open.tiktokapis.com/v2"  # type: ignore[attr-defined]
    other = REGISTRY["tiktok"](ctx(True, {}, {"TIKTOK_API_BASE": "http://other/v2"}))
    assert other._ep.api_base == "http://other/v2"  # type: ignore[attr-defined]
    assert other._ep.token_url == "http://127.0.0.1:9/tiktok/v2/oauth/token/"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (403, "spam_risk_user_banned_from_posting", PermanentError),
        (403, "unaudited_client_can_only_post_to_private_accounts", PermanentError),
        (403, "reached_active_user_cap", QuotaExhausted),
        (403, "spam_risk_too_many_posts", QuotaExhausted),
        (401, "scope_not_authorized", ReauthRequired),
        (200, "rate_limit_exceeded", RateLimited),  # an error may come with HTTP 200
        (200, "internal_error", TransientError),
        (500, "internal_error", TransientError),
    ],
)
def test_tiktok_error_codes_are_classified_by_the_body(
    emulator: Emulator, media: Path, status: int, code: str, error: type[Exception]
) -> None:
    async def scenario(h: Harness) -> None:
        body = {"data": {}, "error": {"code": code, "message": "m", "log_id": "202612"}}
        await h.fault("session", "status", code=status, body=body, times=2)
        with pytest.raises(error) as info:
            await h.upload()
        assert getattr(info.value, "code", None) == code
        assert calls(h, PUT) == 0 and await h.posts() == []

    go(emulator, media, scenario)


def test_every_post_asks_creator_info_and_chunks_carry_no_bearer_token(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.follow(await h.upload())
        await h.upload()  # a second post of the same account
        assert calls(h, "creator_info/query/") == 2 and calls(h, INIT) == 2
        puts = [r for r in h.sent if r.method == "PUT"]
        assert len(puts) == 4 and not any("authorization" in r.headers for r in puts)
        assert {r.headers["content-type"] for r in puts} == {"video/mp4"}
        assert all(str(r.url).startswith(h.emulator.url + "/tiktok/video/?") for r in puts)

    go(emulator, media, scenario)


def test_post_ids_may_come_as_a_string() -> None:
    ref = RemoteRef("tiktok_publish", {"publish_id": "p1", "size": "10", "username": "al"})
    done = status_of({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": "7001"}, ref)
    assert (done.phase, done.remote_id) == (RemotePhase.PUBLISHED, "7001")
    assert done.url == "https://www.tiktok.com/@al/video/7001"
    private = status_of({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []}, ref)
    assert (private.remote_id, private.url) == ("p1", None)
