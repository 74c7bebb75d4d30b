"""Instagram's commit (``media_publish``) after an answer that was lost: whatever the container or
the second publish says next, the Reel that exists is found and never made twice (§0.2, §3.5).

Each scenario publishes, loses the answer (the Reel exists), then makes Instagram's next reads
say something misleading through emulator faults: the container gone (100/33) or EXPIRED, or
still FINISHED with the recent media not listing the Reel yet. Real emulator over loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atroposd.errors import OutcomeUnknown, TransientError
from atroposd.providers.base import RemotePhase, RemoteRef
from tests.providers.harness import ACCOUNT, Harness, default_media
from tests.providers.test_instagram_scenarios import go, ready
from tests.support import Emulator

GONE = {
    "error": {
        "message": "Unsupported get request. Object with ID '1' does not exist, cannot be loaded "
        "due to missing permissions, or does not support this operation.",
        "type": "GraphMethodException",
        "code": 100,
        "error_subcode": 33,
        "fbtrace_id": "x",
    }
}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("instagram-commit") / "clip.mp4")


async def published_then_lost(h: Harness) -> tuple[RemoteRef, dict[str, Any]]:
    """A processed container published with its answer lost: (the saved ref, the Reel)."""
    result = await h.upload()
    assert result.ref is not None
    await ready(h, result.ref)
    await h.fault("publish", "commit_then_drop")
    with pytest.raises(TransientError):
        await h.provider.publish(h.request, result.ref, h.save_ref)
    [post] = await h.posts()
    assert h.refs[-1].data.get("publish_sent"), "the publish was not recorded before it went out"
    return h.refs[-1], post


def container_answer(kind: str, container_id: str) -> dict[str, Any]:
    """A fault rule making the next container read say ``kind`` (gone / EXPIRED / FINISHED)."""
    if kind == "gone":
        return {"code": 400, "body": GONE}
    text = {"EXPIRED": "Expired: Media was not published within 24 hours.", "FINISHED": "Done"}
    return {"code": 200, "body": {"id": container_id, "status_code": kind, "status": text[kind]}}


@pytest.mark.parametrize("kind", ["gone", "EXPIRED"])
def test_a_published_container_read_as_gone_or_expired_is_found_not_made_again(
    emulator: Emulator, media: Path, kind: str
) -> None:
    """Making a new container is only safe when the old one provably never published."""

    async def scenario(h: Harness) -> None:
        ref, post = await published_then_lost(h)
        await h.fault("poll", "status", **container_answer(kind, ref.data["id"]))
        status = await h.provider.status(ACCOUNT, ref)
        assert (status.phase, status.remote_id) == (RemotePhase.PUBLISHED, post["id"]), status
        await h.fault("poll", "status", **container_answer(kind, ref.data["id"]))
        result = await h.provider.publish(h.request, ref, h.save_ref)
        assert await h.faults_left() == [], "the misleading container answer was not used"
        assert result.remote_id == post["id"]
        assert len(await h.posts()) == 1, "a second Reel was made"
        made = [r for r in h.sent if r.method == "POST" and r.url.path.endswith("/media")]
        assert len(made) == 1, "a new container was made for a Reel that exists"

    go(emulator, media, scenario)


def test_a_second_publish_refused_as_already_published_is_that_reel_not_a_failure(
    emulator: Emulator, media: Path
) -> None:
    """Both reads lag (container FINISHED, recent media without the Reel): the publish goes out
    again, Instagram refuses it (a container publishes once), and that refusal is the answer."""

    async def scenario(h: Harness) -> None:
        ref, post = await published_then_lost(h)
        await h.fault("poll", "status", **container_answer("FINISHED", ref.data["id"]))
        lagging = {"platform": "instagram", "step": "list", "action": "status", "code": 200}
        await h.ctl.post("/_emulator/faults", json=[{**lagging, "body": {"data": []}}])
        result = await h.provider.publish(h.request, ref, h.save_ref)
        assert await h.faults_left() == [], "the lagging answers were not used"
        assert result.remote_id == post["id"] and not result.processing
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_a_reel_with_the_same_caption_published_before_ours_is_not_taken_for_ours(
    emulator: Emulator, media: Path
) -> None:
    """Two clips with one caption: ours (container made first) is published after the other
    Reel, and its publish never reaches Instagram. The other Reel is not taken for ours."""

    async def scenario(h: Harness) -> None:
        ours = await h.upload()
        assert ours.ref is not None
        await ready(h, ours.ref)
        other = await h.post()  # the same caption, published through the pipeline meanwhile
        [sibling] = await h.posts()
        assert other.remote_id == sibling["id"]
        await h.fault("publish", "status", code=503)  # refused before anything is made
        with pytest.raises(TransientError):
            await h.provider.publish(h.request, ours.ref, h.save_ref)
        status = await h.provider.status(ACCOUNT, h.refs[-1])
        assert status.phase is RemotePhase.READY, status
        result = await h.provider.publish(h.request, h.refs[-1], h.save_ref)
        assert result.remote_id != sibling["id"]
        assert len(await h.posts()) == 2, "our Reel was never made"

    go(emulator, media, scenario)


@pytest.mark.parametrize("listed", [True, False])
def test_resuming_a_published_container_that_is_gone_never_makes_a_new_one(
    emulator: Emulator, media: Path, listed: bool
) -> None:
    """A retried post resumes its saved container after a publish went out; the container reads
    as gone. Listed in recent media: that Reel; not listed: nothing proves either way, a human
    checks (outcome unknown). Never a new container, which the pipeline would publish."""

    async def scenario(h: Harness) -> None:
        ref, post = await published_then_lost(h)
        await h.fault("poll", "status", **container_answer("gone", ref.data["id"]))
        if not listed:
            lagging = {"platform": "instagram", "step": "list", "action": "status", "code": 200}
            await h.ctl.post("/_emulator/faults", json=[{**lagging, "body": {"data": []}}])
            with pytest.raises(OutcomeUnknown, match="check Instagram, then `atroposd resolve`"):
                await h.upload(resume=ref)
        else:
            result = await h.upload(resume=ref)
            assert result.ref is not None and result.ref.data["id"] == ref.data["id"]
        assert await h.faults_left() == []
        made = [r for r in h.sent if r.method == "POST" and r.url.path.endswith("/media")]
        assert len(made) == 1, "a new container was made for a Reel that may exist"
        assert [p["id"] for p in await h.posts()] == [post["id"]]

    go(emulator, media, scenario)
