"""``atroposd retry`` of a post TikTok failed (here: the creator removed the app; the user
logged in again): the publisher asks ``status`` first, the saved publish can never become a
post, so one new upload is made and posted once (a human asked; TikTok's "do not retry"
concerns automatic retries, which never follow a FAILED)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atroposd.domain import Post, PostState
from tests.providers.harness import Harness, make_request, run
from tests.providers.tiktok_support import TIKTOK, control, publishes, quick, two_chunk_media
from tests.support import Emulator


async def retry(h: Harness, post: Post) -> Post:
    """``atroposd retry POST_ID`` (ledger_cli): back to ready, the saved publish kept."""
    ready = h.pipeline.ledger.transition(
        post.id,
        [PostState.FAILED],
        PostState.READY,
        note="retry requested",
        retry_at=None,
        attempts=0,
        attention=None,
    )
    assert ready is not None and ready.remote_ref == post.remote_ref
    return await h.pipeline.drive(post.id, h.binding.publish_deadline_s)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_chunk_media(tmp_path_factory.mktemp("tiktok-retry") / "clip.mp4")


def test_retrying_a_post_tiktok_failed_uploads_it_again_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await control(h, "fail_processing", fail_reason="auth_removed")  # the app was removed
        failed = await h.post()
        assert failed.state is PostState.FAILED, (failed.state, failed.last_error)
        retried = await retry(h, failed)  # the user logged in again
        assert retried.state is PostState.PUBLISHED, (retried.state, retried.last_error)
        old, new = await publishes(h)
        assert old["fail_reason"] == "auth_removed" and new["completed"], (old, new)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256

    run(TIKTOK, emulator, make_request(media), quick(scenario))
