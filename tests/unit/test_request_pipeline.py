"""A caption that cannot meet a platform's limits stops its post before any request.

Driven through the daemon's own ``Publisher`` on a real ledger against the real emulator
(``tests.unit.pipeline_support``): the user sees ``failed`` with a plain ERR line naming the
counted length and the limit, nothing reaches the platform, and after the caption file is
fixed ``atroposd retry`` posts it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import structlog.testing

from atroposd.domain import Post, PostState
from tests.unit.pipeline_support import ACCOUNT, Rig, Run, real_clip, runner

S = PostState
# One sentence of 5,600 bytes: YouTube's description takes 5,000 and it has no sentence end
# to be cut at.
ENDLESS = "this clip goes on and on without a single stop " * 120


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_clip(tmp_path_factory.mktemp("captions"))


@pytest.fixture
def run(tmp_path: Path, clip: Path) -> Run:
    return runner(tmp_path, clip)


def planned(r: Rig, caption: str, sidecar: str | None = None) -> Post:
    """A ready YouTube post of a new drop with this caption (what the intake leaves)."""
    drop = r.drop("story", caption=caption, sidecar=sidecar)
    sha = hashlib.sha256(b"story").hexdigest()
    [new], _ = r.ledger.plan(sha, drop.video_path.stat().st_size, ACCOUNT, ["youtube"], drop)
    ready = r.ledger.transition(new.id, [S.PLANNED], S.READY)
    assert ready is not None
    return ready


def retry(r: Rig, post_id: int) -> None:
    """What ``atroposd retry`` does to a failed post."""
    done = r.ledger.transition(
        post_id, [S.FAILED], S.READY, note="retry requested", retry_at=None, attempts=0
    )
    assert done is not None


def test_a_caption_that_cannot_fit_fails_before_any_request_then_retry_posts_the_fix(
    run: Run,
) -> None:
    async def scenario(r: Rig) -> None:
        post = planned(r, ENDLESS)
        with structlog.testing.capture_logs() as logs:
            await r.publisher.work(post.id)
        failed = r.get(post.id)
        assert failed.state is S.FAILED
        assert r.sent == []  # not even a token request
        [err] = [e for e in logs if e["event"] == "ERR"]
        assert err["error"] == failed.last_error
        assert failed.last_error is not None
        assert failed.last_error.startswith(
            "youtube description is 5639 UTF-8 bytes, over the limit of 5000, and cannot be "
            "shortened without losing its meaning"
        )
        assert f"atroposd retry {post.id}" in failed.last_error
        assert err["next"] == "rejected, not retried"

        fixed = "A clip that goes on. And on.\n\n#shorts"
        r.ledger.drop_of(post.id).caption_path.write_text(fixed, encoding="utf-8")
        retry(r, post.id)
        done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("youtube")
        assert item["caption"] == fixed

    run(scenario)


def test_an_override_over_the_limit_fails_and_is_never_cut(run: Run) -> None:
    async def scenario(r: Rig) -> None:
        post = planned(
            r, "Fine caption\n#shorts", sidecar=json.dumps({"youtube": {"title": "t" * 120}})
        )
        await r.publisher.work(post.id)
        failed = r.get(post.id)
        assert failed.state is S.FAILED and r.sent == []
        assert failed.last_error is not None
        assert "youtube title override is 120 characters, over the limit of 100" in (
            failed.last_error
        )
        assert await r.posts() == []

    run(scenario)


def test_an_override_fixed_in_the_sidecar_is_read_again_by_retry(run: Run) -> None:
    """The ERR says to shorten the override in the sidecar: ``atroposd retry`` must see it."""

    async def scenario(r: Rig) -> None:
        too_long = json.dumps({"youtube": {"title": "t" * 120}})
        post = planned(r, "Fine caption\n#shorts", sidecar=too_long)
        await r.publisher.work(post.id)
        failed = r.get(post.id)
        assert failed.state is S.FAILED and failed.last_error is not None
        sidecar = r.ledger.drop_of(post.id).sidecar_path
        assert sidecar is not None and str(sidecar) in failed.last_error
        assert f"read again by `atroposd retry {post.id}`" in failed.last_error
        sidecar.write_text(json.dumps({"youtube": {"title": "A fixed title"}}), encoding="utf-8")
        retry(r, post.id)
        done = await r.settle(post.id)
        assert done.state is S.PUBLISHED, done.last_error
        [item] = await r.posts("youtube")
        assert item["title"] == "A fixed title"

    run(scenario)
