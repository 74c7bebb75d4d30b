"""Facebook's upload host as the real one is known to answer (providers.md §4.1, §4.5): a wrong
offset is refused with Graph's 1363037 naming ``error_data.start_offset``, which the provider
resumes from; a GET on the upload URL (undocumented for Facebook, answered by our emulator) is
never what a retryable refusal turns permanent on.

Real provider, real emulator over loopback, the daemon's publisher on a real ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atroposd.domain import PostState
from atroposd.errors import TransientError
from tests.providers.harness import Harness, default_media, make_request, run
from tests.providers.test_facebook_conformance import FACEBOOK
from tests.support import Emulator

S = PostState
CHUNK = FACEBOOK.chunk_size


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("facebook-rupload") / "clip.mp4")


def rule(step: str, nth: int = 1, **action: Any) -> dict[str, Any]:
    return {"platform": "facebook", "step": step, "nth": nth, **action}


def uploading(video_id: str, held: int) -> dict[str, Any]:
    """A reel's ``status`` while its bytes arrive, saying ``held`` bytes are there."""
    phase = {"status": "in_progress", "bytes_transferred": held}
    status = {
        "video_status": "uploading",
        "uploading_phase": phase,
        "processing_phase": {"status": "not_started"},
        "publishing_phase": {"status": "not_started"},
    }
    return {"id": video_id, "status": status}


def upload_gets(h: Harness) -> list[str]:
    return [str(r.url) for r in h.sent if r.method == "GET" and "/video-upload/" in r.url.path]


def test_a_wrong_offset_resumes_from_the_start_offset_facebook_names(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.ctl.post("/_emulator/faults", json=[rule("rupload", 3, action="commit_then_drop")])
        with pytest.raises(TransientError):  # the answer to chunk 3 is lost
            await h.upload()
        [ref] = h.refs
        # Facebook's status lags behind its upload host: it says one chunk, the host holds 3.
        lagging = rule(
            "status", action="status", code=200, body=uploading(ref.data["video_id"], CHUNK)
        )
        await h.ctl.post("/_emulator/faults", json=[lagging])
        result = await h.upload(resume=ref)
        assert result.resumed_from == CHUNK
        assert upload_gets(h) == [], "re-synced by a GET the real upload host may not answer"
        assert await h.faults_left() == []
        done = await h.follow(result)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and post["id"] == done.remote_id

    run(FACEBOOK, emulator, make_request(media), scenario)


def test_a_retryable_upload_error_stays_retryable_when_the_host_answers_no_get(
    emulator: Emulator, media: Path
) -> None:
    timed_out = {
        "error": {
            "message": "The upload timed out.",
            "type": "OAuthException",
            "code": 6000,
            "error_subcode": 1363030,
            "fbtrace_id": "Ab9",
        }
    }
    faults = [
        rule("rupload", 2, action="status", code=400, body=timed_out),
        rule("rupload", 3, action="status", code=405),  # the GET a re-sync would make
    ]

    async def scenario(h: Harness) -> None:
        await h.ctl.post("/_emulator/faults", json=faults)
        done = await h.post()
        assert await h.faults_left() == []
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256

    run(FACEBOOK, emulator, make_request(media), scenario)
