"""The provider conformance suite: behaviours every platform's provider must show.

A platform joins with a binding module (see ``test_youtube_conformance.py``)::

    class TestYouTubeConformance(ProviderConformance):
        binding = YOUTUBE

Every test runs the real provider (built by the registry factory) against the real
emulator on loopback, and asserts on what a user would see: posts on the platform, the
error class the retry policy acts on, tokens in the store, nothing secret in the logs.
Posts are made by the daemon's own ``Publisher`` on a real ledger (``pipeline.py``): upload,
poll, publish where the platform has a publish step, poll until published. A provider whose
publish is never called gets nothing onto the platform and fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
import structlog

from atroposd.domain import PostState
from atroposd.errors import PermanentError, RateLimited, ReauthRequired, TransientError
from atroposd.providers.base import RemotePhase, RemoteRef
from tests.providers.harness import (
    ACCOUNT,
    Binding,
    Harness,
    Scenario,
    make_request,
    media_requests,
    run,
)
from tests.providers.pipeline import Pipeline
from tests.support import REPO, Emulator, wait_for

Conform = Callable[[Scenario], None]


def check_next_save_ref(h: Harness) -> None:
    """On the next ``save_ref``, assert the platform holds no media byte of the session yet."""
    pending = [True]

    async def nothing_sent_yet(ref: RemoteRef) -> None:
        if not pending:
            return
        uploads = await h.uploads()
        if not uploads and h.binding.ref_before_session:
            return  # saved before the session opens (Snapchat's key): check the next one
        pending.clear()
        assert uploads, "save_ref ran but the platform has no open upload session"
        assert all(u["bytes_received"] == 0 for u in uploads), f"bytes before save_ref: {uploads}"

    h.on_save_ref = nothing_sent_yet


async def one_post_of(h: Harness) -> dict[str, object]:
    """The single post on the platform, holding exactly the file's bytes."""
    posts = await h.posts()
    assert len(posts) == 1, f"expected exactly one post, got {posts}"
    assert posts[0]["sha256"] == h.request.sha256, "the post's bytes differ from the file's"
    return posts[0]


class ProviderConformance:
    """Subclass as ``Test<Platform>Conformance`` and set ``binding``."""

    binding: ClassVar[Binding]

    @pytest.fixture(scope="class")
    @classmethod
    def media(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        path = cls.binding.make_media(tmp_path_factory.mktemp(cls.binding.name) / "clip.mp4")
        requests = media_requests(path.stat().st_size, cls.binding.chunk_size)
        assert requests >= 3, "the test media must take at least three media requests"
        return path

    @pytest.fixture
    def conform(self, emulator: Emulator, media: Path) -> Conform:
        request = make_request(media)
        return lambda scenario: run(self.binding, emulator, request, scenario)

    # -- 1 ------------------------------------------------------------------------------------

    def test_publisher_posts_exactly_one_post_as_requested(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            done = await h.post()
            assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
            post = await one_post_of(h)
            if h.provider.capabilities.title is not None:  # TikTok: the caption is the only text
                assert post["title"] == h.request.title
            assert post["caption"] == h.request.description
            assert post["account"] == ACCOUNT
            assert done.remote_id == post["id"], "the ledger does not hold the post's id"
            assert done.bytes_sent == h.request.size
            steps = [to for _, to, _ in h.pipeline.ledger.history(done.id)]
            publishing = PostState.PUBLISHING.value in steps
            assert publishing == h.provider.capabilities.publish_step, steps

        conform(scenario)

    def test_handle_is_saved_before_the_first_byte(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            check_next_save_ref(h)
            result = await h.upload()
            assert h.refs, "save_ref was never called"
            assert result.bytes_sent == h.request.size and result.resumed_from == 0

        conform(scenario)

    # -- 2 ------------------------------------------------------------------------------------

    def test_dropped_connection_resumes_from_the_stored_offset(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            await h.fault("media", "drop", nth=2)
            with pytest.raises(TransientError):
                await h.upload()
            [session] = await h.uploads()
            stored = session["bytes_received"]
            assert 0 < stored < h.request.size
            status = await h.provider.status(ACCOUNT, h.refs[-1])
            assert (status.phase, status.offset) == (RemotePhase.UPLOADING, stored), status
            result = await h.upload(resume=h.refs[-1])
            assert result.resumed_from == stored, "bytes the platform held were sent again"
            await h.follow(result)
            await one_post_of(h)
            assert await h.uploads() == [], "the resume opened a second session"

        conform(scenario)

    # -- 3 ------------------------------------------------------------------------------------

    def test_lost_answer_to_the_commit_never_posts_twice(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            await h.fault("commit", "commit_then_drop")
            done = await h.post()
            assert await h.faults_left() == [], "the commit step was never reached"
            assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
            post = await one_post_of(h)
            assert post["id"] == done.remote_id

        conform(scenario)

    def test_process_gone_after_the_commit_never_posts_twice(self, conform: Conform) -> None:
        """The process stops while the commit's answer is on its way: nothing was recorded.
        A fresh publisher on the same ledger asks the platform, and never sends it again."""

        async def scenario(h: Harness) -> None:
            await h.fault("commit", "commit_then_hang", hold=30.0)
            planned = h.pipeline.plan(h.request, h.provider.name)
            worker = asyncio.create_task(h.pipeline.drive(planned.id, 30.0))
            while not await h.posts():  # committed on the platform, answer held back
                assert not worker.done(), (
                    "the commit was never reached: the post settled first",
                    worker.exception() or worker.result(),  # why: the worker's error or post
                )
                await asyncio.sleep(0.02)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            h.pipeline = h.pipeline.restart()
            done = await h.pipeline.drive(planned.id, h.binding.publish_deadline_s)
            assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
            post = await one_post_of(h)
            assert post["id"] == done.remote_id

        conform(scenario)

    def test_kill_9_between_the_commit_and_its_answer_posts_once(
        self, emulator: Emulator, media: Path, tmp_path: Path
    ) -> None:
        """A real process, killed with SIGKILL while the platform holds back the answer to the
        request that made the post (last chunk, publish call). The next process asks first."""
        binding, home = self.binding, tmp_path / "home"
        size, chunk = media.stat().st_size, binding.chunk_size
        emulator.faults(
            {
                "platform": binding.name,
                "step": binding.commit.step,
                "nth": binding.commit.nth(size, chunk),
                "action": "commit_then_hang",
                "hold": 60.0,
            }
        )
        where = f"{type(self).__module__}:{type(self).__name__}"
        args = ["tests.providers.crash_child", where, emulator.url, str(media), str(home)]
        child = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            post_id = int((child.stdout or io.StringIO()).readline())
            wait_for(emulator.posts, 60.0, "the commit on the platform")
            assert child.poll() is None, "the child finished: the answer was not held back"
        finally:
            child.kill()  # SIGKILL: nothing after the commit was recorded
            child.wait(30)
            if child.stdout:
                child.stdout.close()

        async def scenario(h: Harness) -> None:
            h.pipeline.close()
            h.pipeline = Pipeline.build(h.provider, home, binding.publish_deadline_s)
            stopped = h.pipeline.ledger.get(post_id)
            assert stopped is not None and stopped.state is not PostState.PUBLISHED, stopped
            done = await h.pipeline.drive(post_id, binding.publish_deadline_s)
            assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
            post = await one_post_of(h)
            assert post["id"] == done.remote_id

        run(binding, emulator, make_request(media), scenario)

    # -- 4 ------------------------------------------------------------------------------------

    @pytest.mark.parametrize("step", ["session", "media"])
    def test_throttling_carries_the_platform_wait(self, conform: Conform, step: str) -> None:
        async def scenario(h: Harness) -> None:
            await h.fault(step, "status", code=429, headers={"Retry-After": "7"})
            with pytest.raises(RateLimited) as info:
                await h.upload()
            assert info.value.retry_after == 7
            assert info.value.platform == h.binding.name and info.value.status == 429
            assert await h.posts() == []

        conform(scenario)

    @pytest.mark.parametrize("step", ["session", "media"])
    def test_server_error_is_transient(self, conform: Conform, step: str) -> None:
        async def scenario(h: Harness) -> None:
            await h.fault(step, "status", code=503)
            with pytest.raises(TransientError) as info:
                await h.upload()
            assert not isinstance(info.value, RateLimited), "a bare 503 is no wait signal"
            assert info.value.platform == h.binding.name and info.value.status == 503
            assert await h.posts() == []

        conform(scenario)

    # -- 5, 6 ---------------------------------------------------------------------------------

    def test_expired_token_is_refreshed_once_and_saved(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            saves_before: list[int] = []

            def expire_midway(done: int, total: int) -> None:
                if not saves_before and 0 < done < total:
                    saves_before.append(len(h.creds.saved))
                    h.emulator.control("expire_tokens", {"platform": h.binding.name})

            result = await h.upload(progress=expire_midway)
            assert saves_before, "progress never reported a partly sent file"
            old, new = h.creds.saved[: saves_before[0]], h.creds.saved[saves_before[0] :]
            assert len(new) == 1, f"expected one refresh after expiry, got {len(new)}"
            assert new[0].access_token not in {c.access_token for c in old}
            assert h.creds.load(ACCOUNT, h.binding.name) == new[0]
            await h.follow(result)
            await one_post_of(h)

        conform(scenario)

    def test_revoked_login_needs_reauth(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            killed: list[bool] = []

            def revoke_midway(done: int, total: int) -> None:
                if not killed and 0 < done < total:
                    killed.append(True)
                    h.emulator.control("revoke", {"platform": h.binding.name, "account": ACCOUNT})
                    h.emulator.control("expire_tokens", {"platform": h.binding.name})

            with pytest.raises(ReauthRequired) as info:
                await h.upload(progress=revoke_midway)
            assert killed, "progress never reported a partly sent file"
            assert info.value.platform == h.binding.name
            assert await h.posts() == []

        conform(scenario)

    # -- 7, 8 ---------------------------------------------------------------------------------

    def test_rejected_metadata_is_permanent_with_the_platform_words(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            rejection = h.binding.rejection
            await h.fault("session", "status", code=rejection.status, body=rejection.body)
            with pytest.raises(PermanentError) as info:
                await h.upload()
            assert info.value.code == rejection.code
            assert info.value.platform_message == rejection.message
            assert info.value.status == rejection.status
            assert await h.posts() == []

        conform(scenario)

    def test_validate_rejects_an_empty_file_offline(self, conform: Conform, tmp_path: Path) -> None:
        empty = tmp_path / "empty.mp4"
        empty.write_bytes(b"")

        async def scenario(h: Harness) -> None:
            digest = hashlib.sha256(b"").hexdigest()
            with pytest.raises(PermanentError):
                h.provider.validate(replace(h.request, path=empty, size=0, sha256=digest))
            h.provider.validate(h.request)  # the real clip passes
            assert h.sent == [], "validate() touched the network"

        conform(scenario)

    def test_validate_rejects_an_empty_title_offline(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            for title in ("", "   "):
                if h.provider.capabilities.title is None:  # no title: a missing one is fine
                    h.provider.validate(replace(h.request, title=title))
                    continue
                with pytest.raises(PermanentError):
                    h.provider.validate(replace(h.request, title=title))
            assert h.sent == [], "validate() touched the network"

        conform(scenario)

    # -- 9 ------------------------------------------------------------------------------------

    def test_no_secret_reaches_logs_or_errors(
        self, conform: Conform, caplog: pytest.LogCaptureFixture
    ) -> None:
        # Providers log nothing themselves today; the structlog capture guards future log
        # calls, and the errors' texts matter because the pipeline logs them verbatim.
        caplog.set_level(logging.DEBUG, logger="httpx")
        caplog.set_level(logging.DEBUG, logger="httpcore")
        secrets: set[str] = set(self.binding.secrets.values())
        errors: list[Exception] = []

        async def scenario(h: Harness) -> None:
            secrets.add(h.creds.load(ACCOUNT, h.binding.name).refresh_token or "")
            await h.follow(await h.upload())
            await h.fault("media", "status", code=503)
            for failing in (h.upload, lambda: _after_revoke(h)):
                try:
                    await failing()
                except (TransientError, ReauthRequired) as exc:
                    errors.append(exc)
            secrets.update(c.access_token for c in h.creds.saved)

        with structlog.testing.capture_logs() as logs:
            conform(scenario)
        secrets.discard("")
        assert len(errors) == 2 and secrets, "the scenario did not exercise what it should"
        assert any(r.name.startswith("httpx") for r in caplog.records), "log capture is broken"
        texts = {
            "structlog": repr(logs),
            "stdlib logging": caplog.text + repr([r.args for r in caplog.records]),
            "errors": repr([(str(e), vars(e)) for e in errors]),
        }
        for where, text in texts.items():
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"secret(s) in {where}: {leaked}"

    # -- 10 -----------------------------------------------------------------------------------

    def test_forgotten_session_restarts_fresh(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            await h.fault("media", "drop", nth=2)
            with pytest.raises(TransientError):
                await h.upload()
            stale = h.refs[-1]
            await h.control("expire_uploads", platform=h.binding.name)
            assert (await h.provider.status(ACCOUNT, stale)).phase is RemotePhase.NOT_FOUND
            check_next_save_ref(h)
            result = await h.upload(resume=stale)
            assert h.refs[-1] != stale, "no new session ref was saved"
            assert result.resumed_from == 0
            await h.follow(result)
            await one_post_of(h)

        conform(scenario)

    # -- 11 -----------------------------------------------------------------------------------

    def test_resuming_a_finished_upload_never_posts_twice(self, conform: Conform) -> None:
        async def scenario(h: Harness) -> None:
            first = await h.upload()
            done = await h.follow(first)
            assert first.ref is not None
            # The ledger keeps the handle; a retry of the post hands it back as ``resume``.
            again = await h.upload(resume=first.ref)
            assert again.remote_id == first.remote_id, "the saved ref was ignored: new upload"
            # A ready post holding the handle of what is already published (a retried post).
            h.pipeline = h.pipeline.elsewhere()
            retried = await h.post(first.ref)
            assert retried.state is PostState.PUBLISHED, (retried.state, retried.last_error)
            assert retried.remote_id == done.remote_id
            await one_post_of(h)

        conform(scenario)


async def _after_revoke(h: Harness) -> None:
    await h.control("revoke", platform=h.binding.name, account=ACCOUNT)
    await h.control("expire_tokens", platform=h.binding.name)
    await h.upload()
