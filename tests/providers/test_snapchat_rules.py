"""Rules of providers.md §6 not covered by the suite or the scenarios: Snap's error codes,
its double-post guard, a sent post whose media is gone, a new key per media, the size cap."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.errors import (
    AuthExpired,
    ConfigError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    SessionLost,
    TransientError,
)
from atroposd.providers.base import ProviderContext, RemotePhase, RemoteRef
from atroposd.providers.snapchat import build, classify
from atroposd.providers.snapchat.errors import succeeded
from tests.providers.harness import ACCOUNT, Harness, MemoryCredentials, make_request, run
from tests.providers.test_snapchat_conformance import SNAPCHAT
from tests.support import Emulator


def answer(status: int, code: str | None = None, **body: object) -> httpx.Response:
    doc: dict[str, object] = {"request_status": "ERROR" if code else "SUCCESS", **body}
    if code:
        doc |= {"error_code": code, "debug_message": f"{code}!", "display_message": f"{code}."}
    return httpx.Response(status, json=doc)


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (401, "UNAUTHORIZED", AuthExpired),
        (429, "RATE_LIMIT_EXCEEDED", RateLimited),
        (400, "MEDIA_PROCESSING", TransientError),
        (400, "MEDIA_POSTING_ALREADY_IN_PROGRESS", OutcomeUnknown),
        (400, "MEDIA_EXPIRED", SessionLost),
        (404, "NOT_FOUND", SessionLost),
        (503, "INTERNAL_ERROR", TransientError),
        (403, "FORBIDDEN", PermanentError),
        (400, "INVALID_FILE", PermanentError),
    ],
)
def test_snaps_error_codes_map_to_what_the_retry_policy_acts_on(
    status: int, code: str, kind: type[Exception]
) -> None:
    err = classify(answer(status, code), "step", datetime.now(UTC))
    assert type(err) is kind
    assert (err.code, err.platform_message, err.status) == (code, f"{code}.", status)
    if isinstance(err, RateLimited):
        assert err.retry_after is None  # Snap sends no wait signal


def test_a_403_says_what_a_user_checks_with_snaps_own_words() -> None:
    err = classify(answer(403, "FORBIDDEN"), "create media", datetime.now(UTC))
    assert isinstance(err, PermanentError) and err.platform_message == "FORBIDDEN."
    text = str(err)
    assert text.startswith("create media: HTTP 403 FORBIDDEN: FORBIDDEN.")
    assert "allowlisted" in text and "profile_id" in text


def test_a_2xx_is_a_success_only_when_the_envelope_and_its_items_say_so() -> None:
    assert succeeded(answer(200, media_id="m"))
    assert not succeeded(answer(200, "MEDIA_EXPIRED"))
    batch = {"media": [{"sub_request_status": "ERROR", "error_code": "E1", "media": {}}]}
    assert not succeeded(httpx.Response(200, json={"request_status": "SUCCESS", **batch}))
    err = classify(
        httpx.Response(200, json={"request_status": "SUCCESS", **batch}), "s", datetime.now(UTC)
    )
    assert err.code == "E1"


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SNAPCHAT.make_media(tmp_path_factory.mktemp("rules") / "clip.mp4")


async def uploaded_ready(h: Harness) -> RemoteRef:
    result = await h.upload()
    assert result.ref is not None
    for _ in range(100):
        if (await h.provider.status(ACCOUNT, result.ref)).phase is RemotePhase.READY:
            return result.ref
        await asyncio.sleep(0.1)
    raise AssertionError("never ready")


def test_a_second_publish_meets_snaps_guard_and_finds_the_first_post(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        ref = await uploaded_ready(h)
        first = await h.provider.publish(h.request, ref, h.save_ref)
        again = await h.provider.publish(h.request, ref, h.save_ref)
        assert again.remote_id == first.remote_id
        assert len(await h.posts()) == 1

    run(SNAPCHAT, emulator, make_request(media), scenario)


def test_snaps_guard_with_no_listed_post_waits_for_a_human(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        ref = await uploaded_ready(h)
        await h.provider.publish(h.request, ref, h.save_ref)
        empty = {"request_status": "SUCCESS", "spotlights": [], "stories": []}
        rule = {"platform": "snapchat", "step": "list", "action": "status", "code": 200}
        (
            await h.ctl.post("/_emulator/faults", json=[{**rule, "body": empty, "times": 2}])
        ).raise_for_status()
        with pytest.raises(OutcomeUnknown):
            await h.provider.publish(h.request, ref, h.save_ref)
        assert await h.faults_left() == [], "the lists were not asked"
        assert len(await h.posts()) == 1

    run(SNAPCHAT, emulator, make_request(media), scenario)


def test_a_sent_post_whose_media_is_gone_and_unlisted_is_an_unknown_outcome(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        ref = await uploaded_ready(h)
        gone = RemoteRef(ref.kind, {**ref.data, "media_id": "0" * 8, "publish_sent": "1"})
        with pytest.raises(OutcomeUnknown):
            await h.provider.status(ACCOUNT, gone)
        with pytest.raises(OutcomeUnknown):
            await h.upload(resume=gone)
        never = RemoteRef(ref.kind, {**ref.data, "media_id": "0" * 8})  # gone, never posted
        assert (await h.provider.status(ACCOUNT, never)).phase is RemotePhase.EXPIRED  # ADR 0012

    run(SNAPCHAT, emulator, make_request(media), scenario)


def test_a_new_media_gets_a_new_key_and_the_size_cap_is_checked_offline(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("media", "drop", nth=2)
        with pytest.raises(TransientError):
            await h.upload()
        stale = h.refs[-1]
        await h.control("expire_uploads", platform="snapchat")
        result = await h.upload(resume=stale)
        assert result.ref is not None
        assert (
            result.ref.data["key"] != stale.data["key"]
            and result.ref.data["iv"] != stale.data["iv"]
        )
        sent = len(h.sent)
        with pytest.raises(PermanentError):
            h.provider.validate(replace(h.request, size=1024**3 + 1))
        h.provider.validate(replace(h.request, size=1024**3))
        assert len(h.sent) == sent

    run(SNAPCHAT, emulator, make_request(media), scenario)


def test_hosts_and_part_size_are_settings_and_production_needs_the_client() -> None:
    async def main() -> None:
        async with httpx.AsyncClient() as http:
            ctx = ProviderContext(
                http=http,
                credentials=MemoryCredentials("snapchat", {}),
                clock=SystemClock(),
                sandbox=False,
                sandbox_url="http://127.0.0.1:9",
                chunk_size=1,
                secrets={},
                overrides={},
            )
            with pytest.raises(ConfigError, match="SNAPCHAT_CLIENT_ID, SNAPCHAT_CLIENT_SECRET"):
                build(ctx)
            secrets = {"SNAPCHAT_CLIENT_ID": "id", "SNAPCHAT_CLIENT_SECRET": "secret"}
            with pytest.raises(ConfigError, match="SNAPCHAT_PART_BYTES"):
                build(replace(ctx, secrets=secrets, overrides={"SNAPCHAT_PART_BYTES": "-1"}))
            real = build(replace(ctx, secrets=secrets))
            assert real.api.base == "https://businessapi.snapchat.com"
            assert real.capabilities.chunk_plan.fit(32 * 1024**2 + 1) == 32 * 1024**2
            other = {"SNAPCHAT_API_BASE": "https://snap.example/api", "SNAPCHAT_PART_BYTES": "1000"}
            moved = build(replace(ctx, secrets=secrets, overrides=other))
            assert (
                moved.api.follow("/us/v1/m?action=ADD")
                == "https://snap.example/api/us/v1/m?action=ADD"
            )
            assert moved.api.follow("https://upload.example/x") == "https://upload.example/x"
            sandbox = build(replace(ctx, sandbox=True))  # generated stand-ins, emulator hosts
            assert sandbox.api.base == "http://127.0.0.1:9/snapchat"

    asyncio.run(main())


def test_a_key_saved_before_a_failed_create_is_the_one_the_media_gets(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("session", "status", code=503)
        with pytest.raises(TransientError):
            await h.upload()
        [keyed] = h.refs
        assert "media_id" not in keyed.data
        assert (await h.provider.status(ACCOUNT, keyed)).phase is RemotePhase.NOT_FOUND
        result = await h.upload(resume=keyed)
        assert result.ref is not None and result.ref.data["media_id"]
        assert (result.ref.data["key"], result.ref.data["iv"]) == (
            keyed.data["key"],
            keyed.data["iv"],
        )
        await h.follow(result)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256

    run(SNAPCHAT, emulator, make_request(media), scenario)
