"""The two-step provider against its real emulator over loopback: upload, READY, publish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.errors import (
    AuthExpired,
    PermanentError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from atroposd.providers import REGISTRY
from atroposd.providers.base import (
    Credentials,
    Progress,
    Provider,
    ProviderContext,
    RemotePhase,
    RemoteRef,
    RemoteStatus,
    UploadRequest,
    UploadResult,
)
from tests.providers.twostep import BrokenTwoStepProvider, TwoStepProvider
from tests.support import Emulator, make_clip, sha256

ACCOUNT = "alice"
CHUNK = 64 * 1024
FIRST_REFRESH = "sandbox:alice:provider-test"


class Tokens:
    """An in-memory credential store that remembers every save."""

    def __init__(self) -> None:
        self.creds = Credentials("", refresh_token=FIRST_REFRESH)
        self.saved: list[Credentials] = []

    def load(self, account: str, platform: str) -> Credentials:
        assert (account, platform) == (ACCOUNT, "twostep")
        return self.creds

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        assert (account, platform) == (ACCOUNT, "twostep")
        self.creds = creds
        self.saved.append(creds)


class Rig:
    """One test's provider (built through the registry), its tokens and its saved refs."""

    def __init__(self, provider: Provider, tokens: Tokens, emu: Emulator, req: UploadRequest):
        self.provider = provider
        self.tokens = tokens
        self.emu = emu
        self.request = req
        self.refs: list[RemoteRef] = []
        self.bytes_at_save: list[list[int]] = []
        self.bearers: list[str] = []

    async def save_ref(self, ref: RemoteRef) -> None:
        self.refs.append(ref)
        uploads = await asyncio.to_thread(self.emu.uploads)
        self.bytes_at_save.append([u["bytes_received"] for u in uploads])

    async def upload(
        self, resume: RemoteRef | None = None, progress: Progress | None = None
    ) -> UploadResult:
        return await self.provider.upload(self.request, resume, self.save_ref, progress)

    def fault(self, step: str, action: str = "status", nth: int = 1, **rule: object) -> None:
        """One rule on the emulator's ``twostep`` platform."""
        self.emu.faults({"platform": "twostep", "step": step, "nth": nth, "action": action, **rule})

    async def until(self, ref: RemoteRef, phase: RemotePhase, limit: float = 10.0) -> RemoteStatus:
        """Poll ``status`` until it answers ``phase`` (fails after ``limit`` seconds)."""
        deadline = time.monotonic() + limit
        while True:
            status = await self.provider.status(ACCOUNT, ref)
            if status.phase is phase:
                return status
            assert time.monotonic() < deadline, f"still {status} after {limit}s"
            await asyncio.sleep(0.02)

    def posts(self) -> list[dict[str, object]]:
        return [p for p in self.emu.posts() if p["platform"] == "twostep"]


Scenario = Callable[[Rig], Awaitable[None]]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_clip(tmp_path_factory.mktemp("twostep") / "clip.mp4", 1.0, seed=3, bitrate="2M")
    assert path.stat().st_size > 3 * CHUNK, "the clip must take several chunks"
    return path


def request_for(path: Path) -> UploadRequest:
    return UploadRequest(
        account=ACCOUNT,
        path=path,
        size=path.stat().st_size,
        sha256=sha256(path),
        title="Two-step clip",
        description="Posted in two steps #test",
    )


def run(emu: Emulator, clip: Path, scenario: Scenario, key: str = "twostep") -> None:
    async def main() -> None:
        tokens = Tokens()
        bearers: list[str] = []

        async def check(req: httpx.Request) -> None:
            auth = req.headers.get("authorization", "")
            if auth:  # every bearer sent is already stored: a rotated refresh token is never lost
                bearers.append(auth.removeprefix("Bearer "))
                assert bearers[-1] == tokens.creds.access_token

        async with httpx.AsyncClient(timeout=10.0, event_hooks={"request": [check]}) as http:
            ctx = ProviderContext(
                http=http,
                credentials=tokens,
                clock=SystemClock(),
                sandbox=True,
                sandbox_url=emu.url,
                chunk_size=CHUNK,
                secrets={},
                overrides={},
            )
            rig = Rig(REGISTRY[key](ctx), tokens, emu, request_for(clip))
            rig.bearers = bearers
            await scenario(rig)

    asyncio.run(main())


def test_upload_then_ready_then_publish_makes_one_post(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        assert r.provider.capabilities.publish_step and r.provider.name == "twostep"
        result = await r.upload()
        assert result.processing and result.ref == r.refs[-1] and result.resumed_from == 0
        assert r.bytes_at_save == [[0]], "the ref must be saved before the first byte"
        assert result.bytes_sent == r.request.size
        await r.until(result.ref, RemotePhase.READY)
        assert r.posts() == [], "nothing is posted before publish"
        published = await r.provider.publish(r.request, result.ref, r.save_ref)
        assert not published.processing and published.url
        [post] = r.posts()
        assert post["id"] == published.remote_id and post["sha256"] == r.request.sha256
        assert (post["title"], post["caption"]) == (r.request.title, r.request.description)
        status = await r.provider.status(ACCOUNT, result.ref)
        assert (status.phase, status.remote_id) == (RemotePhase.PUBLISHED, post["id"])
        assert r.emu.uploads() == []

    run(emulator, clip, scenario)


def test_a_second_publish_is_a_second_post(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        result = await r.upload()
        assert result.ref is not None
        await r.until(result.ref, RemotePhase.READY)
        first = await r.provider.publish(r.request, result.ref, r.save_ref)
        second = await r.provider.publish(r.request, result.ref, r.save_ref)
        assert first.remote_id != second.remote_id
        assert [p["id"] for p in r.posts()] == [first.remote_id, second.remote_id]
        status = await r.provider.status(ACCOUNT, result.ref)
        assert (status.phase, status.remote_id) == (RemotePhase.PUBLISHED, first.remote_id)

    run(emulator, clip, scenario)


def test_lost_publish_answer_shows_as_published(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        result = await r.upload()
        assert result.ref is not None
        await r.until(result.ref, RemotePhase.READY)
        r.fault("publish", "commit_then_drop")
        with pytest.raises(TransientError) as info:
            await r.provider.publish(r.request, result.ref, r.save_ref)
        assert info.value.code == "network"
        [post] = r.posts()
        status = await r.provider.status(ACCOUNT, result.ref)
        assert (status.phase, status.remote_id) == (RemotePhase.PUBLISHED, post["id"])

    run(emulator, clip, scenario)


def test_dropped_chunk_resumes_from_the_platform_offset(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        r.fault("chunk", "drop", nth=2)
        with pytest.raises(TransientError):
            await r.upload()
        [upload] = r.emu.uploads()
        stored = upload["bytes_received"]
        assert stored == CHUNK
        status = await r.provider.status(ACCOUNT, r.refs[-1])
        assert (status.phase, status.offset) == (RemotePhase.UPLOADING, stored)
        result = await r.upload(resume=r.refs[-1])
        assert result.resumed_from == stored and result.ref == r.refs[0]
        assert len(r.refs) == 1, "the resume opened a second media"
        assert result.ref is not None
        await r.until(result.ref, RemotePhase.READY)
        await r.provider.publish(r.request, result.ref, r.save_ref)
        [post] = r.posts()
        assert post["sha256"] == r.request.sha256

    run(emulator, clip, scenario)


def test_expired_media_starts_a_new_one(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        r.fault("chunk", "drop", nth=2)
        with pytest.raises(TransientError):
            await r.upload()
        stale = r.refs[-1]
        r.emu.control("expire_uploads", {"platform": "twostep"})
        assert (await r.provider.status(ACCOUNT, stale)).phase is RemotePhase.NOT_FOUND
        result = await r.upload(resume=stale)
        assert result.ref == r.refs[-1] != stale and result.resumed_from == 0
        assert r.bytes_at_save[-1] == [0], "the new ref must be saved before its first byte"

    run(emulator, clip, scenario)


def test_resuming_an_uploaded_media_sends_nothing_again(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        first = await r.upload()
        assert first.ref is not None
        r.fault("chunk", "status", code=500)  # any byte sent again would fail the resume
        again = await r.upload(resume=first.ref)
        assert again.ref == first.ref and again.resumed_from == r.request.size
        assert len(r.refs) == 1
        r.emu.http.delete("/_emulator/faults").raise_for_status()

    run(emulator, clip, scenario)


def test_expired_token_refreshes_once_and_stores_the_rotated_token(
    emulator: Emulator, clip: Path
) -> None:
    async def scenario(r: Rig) -> None:
        expired: list[int] = []

        def expire_midway(done: int, total: int) -> None:
            if not expired and done < total:
                expired.append(len(r.tokens.saved))
                r.emu.control("expire_tokens", {"platform": "twostep"})

        result = await r.upload(progress=expire_midway)
        assert expired == [1], "one refresh before the first call, none before the expiry"
        assert len(r.tokens.saved) == 2, "exactly one refresh after the expiry"
        rotated = [c.refresh_token for c in r.tokens.saved]
        assert len({FIRST_REFRESH, *rotated}) == 3, "each refresh stored a new refresh token"
        assert len(set(r.bearers)) == 2
        assert result.ref is not None
        await r.until(result.ref, RemotePhase.READY)
        r.emu.control("expire_tokens", {"platform": "twostep"})
        await r.provider.publish(r.request, result.ref, r.save_ref)  # 401, refresh, publish
        assert len(r.tokens.saved) == 3 and len(r.posts()) == 1

    run(emulator, clip, scenario)


def test_concurrent_calls_after_expiry_refresh_once(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        result = await r.upload()
        assert result.ref is not None
        r.emu.control("expire_tokens", {"platform": "twostep"})
        before = len(r.tokens.saved)
        ref = result.ref
        await asyncio.gather(*(r.provider.status(ACCOUNT, ref) for _ in range(4)))
        assert len(r.tokens.saved) == before + 1, "one refresh for all the waiting calls"

    run(emulator, clip, scenario)


def test_revoked_login_needs_reauth(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        revoked: list[bool] = []

        def revoke_midway(done: int, total: int) -> None:
            if done < total and not revoked:
                revoked.append(True)
                r.emu.control("revoke", {"platform": "twostep", "account": ACCOUNT})
                r.emu.control("expire_tokens", {"platform": "twostep"})

        with pytest.raises(ReauthRequired) as info:
            await r.upload(progress=revoke_midway)
        assert revoked and (info.value.platform, info.value.code) == ("twostep", "invalid_grant")
        assert r.posts() == []


def test_a_second_401_after_a_refresh_is_not_retried_again(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        r.fault("create", code=401, times=3)
        with pytest.raises(AuthExpired) as info:
            await r.upload()
        assert info.value.status == 401
        assert len(r.tokens.saved) == 2, "the first token, then one refresh after the 401"
        assert r.emu.http.get("/_emulator/faults").json()[0]["seen"] == 2

    run(emulator, clip, scenario)


def test_throttling_outage_and_rejection_are_classified(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        r.fault("create", code=429, headers={"Retry-After": "7"})
        with pytest.raises(RateLimited) as limited:
            await r.upload()
        assert limited.value.retry_after == 7 and limited.value.status == 429
        r.fault("chunk", nth=2, code=503)
        with pytest.raises(TransientError) as down:
            await r.upload()
        assert not isinstance(down.value, RateLimited) and down.value.status == 503
        with pytest.raises(PermanentError) as rejected:
            await r.provider.upload(replace(r.request, title=" "), None, r.save_ref)
        err = rejected.value
        assert (err.code, err.platform_message, err.status) == (
            "invalid_title",
            "The title is empty.",
            400,
        )
        assert r.posts() == []

    run(emulator, clip, scenario)


def test_validate_is_offline(emulator: Emulator, clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")

    async def scenario(r: Rig) -> None:
        with pytest.raises(PermanentError):
            r.provider.validate(replace(r.request, path=empty, size=0))
        with pytest.raises(PermanentError):
            r.provider.validate(replace(r.request, title="  "))
        r.provider.validate(r.request)
        assert r.bearers == [] and r.tokens.saved == []

    run(emulator, clip, scenario)


def test_broken_provider_never_publishes_by_itself(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        assert isinstance(r.provider, BrokenTwoStepProvider)
        assert r.provider.name == "twostep" and not r.provider.capabilities.publish_step
        result = await r.upload()
        assert result.ref is not None and result.processing
        await r.until(result.ref, RemotePhase.READY)
        assert (await r.provider.status(ACCOUNT, result.ref)).phase is RemotePhase.READY
        assert r.posts() == [], "upload alone must never post on a two-step platform"

    run(emulator, clip, scenario, key="twostep_broken")


def test_registry_builds_the_real_provider(emulator: Emulator, clip: Path) -> None:
    async def scenario(r: Rig) -> None:
        assert type(r.provider) is TwoStepProvider

    run(emulator, clip, scenario)
