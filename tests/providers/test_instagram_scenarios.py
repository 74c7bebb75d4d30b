"""Instagram's own behaviours, through the conformance harness (real emulator over loopback, the
daemon's real Publisher on a real ledger): container expiry, processing ERROR, a publish whose
answer is lost, the publishing cap, caption counts checked offline, a dead token of one account.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.domain import Attention, PostState
from atroposd.errors import PermanentError, TransientError
from atroposd.providers.base import Credentials, RemotePhase, RemoteRef, UploadRequest
from tests.providers.harness import ACCOUNT, Harness, default_media, make_request, run
from tests.providers.test_instagram_conformance import INSTAGRAM
from tests.support import Emulator

S = PostState


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("instagram") / "clip.mp4")


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support import make_clip

    return make_clip(tmp_path_factory.mktemp("instagram2") / "other.mp4", 1.0, 11, "1M")


def go(emulator: Emulator, media: Path, scenario: Any) -> None:
    run(INSTAGRAM, emulator, make_request(media), scenario)


async def ig(h: Harness, path: str, **body: Any) -> dict[str, Any]:
    """POST an Instagram control endpoint."""
    resp = await h.ctl.post(f"/_emulator/instagram/{path}", json=body)
    return dict(resp.raise_for_status().json())


async def ready(h: Harness, ref: RemoteRef) -> None:
    """Poll ``status`` until the container is processed (bounded)."""
    for _ in range(400):
        if (await h.provider.status(ACCOUNT, ref)).phase is RemotePhase.READY:
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the container never finished processing")


def containers_made(h: Harness) -> int:
    return sum(1 for r in h.sent if r.method == "POST" and r.url.path.endswith("/media"))


def test_an_expired_container_is_made_again_and_posted_once(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        first = await h.upload()
        assert first.ref is not None
        assert (await ig(h, "expire_containers"))["expired"] == 1
        status = await h.provider.status(ACCOUNT, first.ref)
        assert status.phase is RemotePhase.READY, status  # nothing published: may go out
        done = await h.post(first.ref)  # a retried post holding the expired container
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and post["id"] == done.remote_id
        assert containers_made(h) == 2, "the expired container was not replaced"

    go(emulator, media, scenario)


def test_a_container_expiring_before_its_publish_is_renewed_by_publish(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        first = await h.upload()
        assert first.ref is not None
        await ready(h, first.ref)
        await ig(h, "expire_containers")
        done = await h.provider.publish(h.request, first.ref, h.save_ref)
        assert done.ref is not None and done.ref.data["id"] != first.ref.data["id"]
        saved = [r.data["id"] for r in h.refs]
        assert done.ref.data["id"] in saved, "the new container was not saved before its bytes"
        [post] = await h.posts()
        assert post["id"] == done.remote_id and post["sha256"] == h.request.sha256
        assert done.url and done.url.startswith("https://www.instagram.com/reel/")

    go(emulator, media, scenario)


def test_a_processing_error_fails_the_post_with_instagrams_reason(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await ig(h, "fail_processing", status="Error: the video codec is not supported. 2207026")
        done = await h.post()
        assert done.state is S.FAILED, (done.state, done.last_error)
        assert "2207026" in (done.last_error or "")
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_a_publish_lost_after_commit_is_found_in_recent_media_not_sent_again(
    emulator: Emulator, media: Path
) -> None:
    """The container still says FINISHED after the dropped publish (Meta lagging): the
    provider finds the media in the account's recent media instead of saying READY."""

    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        await ready(h, result.ref)
        await h.fault("publish", "commit_then_drop")
        with pytest.raises(TransientError):
            await h.provider.publish(h.request, result.ref, h.save_ref)
        [post] = await h.posts()
        lagging = {"id": result.ref.data["id"], "status_code": "FINISHED", "status": "Finished"}
        await h.fault("poll", "status", code=200, body=lagging)
        status = await h.provider.status(ACCOUNT, h.refs[-1])
        assert await h.faults_left() == [], "the lagging container answer was not used"
        assert (status.phase, status.remote_id) == (RemotePhase.PUBLISHED, post["id"])
        listed = [r for r in h.sent if r.url.path.endswith(f"/{h.refs[-1].data['ig_user']}/media")]
        assert any(r.method == "GET" for r in listed), "recent media were never read"
        done = await h.post(h.refs[-1])
        assert done.state is S.PUBLISHED and done.remote_id == post["id"]
        assert len(await h.posts()) == 1

    go(emulator, media, scenario)


def test_the_cap_defers_a_post_until_the_window_frees(
    emulator: Emulator, media: Path, second: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await ig(h, "publishing_limit", quota_total=1, quota_duration=86400)
        first = await h.post()
        assert first.state is S.PUBLISHED
        other = h.pipeline.plan(make_request(second, "Other clip"), "instagram")
        post = other
        for _ in range(200):  # until the publisher parks it for the cap
            await h.pipeline.publisher.work(other.id)
            post = h.pipeline.ledger.get(other.id) or post
            if post.retry_at is not None and "quota" in str(h.pipeline.ledger.history(other.id)):
                break
            await asyncio.sleep(0.02)
        assert post.state is S.PUBLISHING and post.retry_at is not None, post
        assert post.attempts == 0 and len(await h.posts()) == 1
        await ig(h, "publishing_limit", quota_total=1, quota_duration=0.05)  # the window frees
        done = await h.pipeline.drive(other.id, 30.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        states = {to for _, to, _ in h.pipeline.ledger.history(other.id)}
        assert S.FAILED.value not in states and S.NEEDS_ATTENTION.value not in states
        assert len(await h.posts()) == 2

    go(emulator, media, scenario)


def test_31_hashtags_fail_offline_with_instagrams_words(emulator: Emulator, media: Path) -> None:
    words = " ".join(f"#tag{i} word" for i in range(31))  # hashtags in the text: not trimmed

    async def scenario(h: Harness) -> None:
        with pytest.raises(Exception) as info:
            h.provider.validate(replace(h.request, description=words))
        assert "at most 30 hashtags" in str(info.value)
        mentions = " ".join(f"@user{i}" for i in range(21))
        with pytest.raises(Exception, match="at most 20 @mentions"):
            h.provider.validate(replace(h.request, description=mentions))
        h.provider.validate(replace(h.request, description="x" * 2200))
        for caption in ("x" * 2201, "🎬" * 1101):  # UTF-16 units: an emoji counts 2
            with pytest.raises(PermanentError, match="at most 2,200 characters"):
                h.provider.validate(replace(h.request, description=caption))
        with pytest.raises(PermanentError, match="300 MB"):
            h.provider.validate(replace(h.request, size=300_000_001))
        for sidecar in (False, True):  # the caption file's text, or an override for instagram
            request = replace(h.request, description=words, path=h.request.path)
            planned = h.pipeline.plan(request, "instagram", sidecar=sidecar)
            done = await h.pipeline.drive(planned.id, 30.0)
            assert done.state is S.FAILED, (done.state, done.last_error)
            assert "31 hashtags" in (done.last_error or "")
            assert "30" in (done.last_error or "")
            h.pipeline = h.pipeline.elsewhere()
        assert h.sent == [], "a local check made HTTP requests"
        assert await h.posts() == []

    go(emulator, media, scenario)


def test_a_dead_token_parks_only_that_accounts_instagram(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        h.creds.save("bob", "instagram", Credentials("", refresh_token="sandbox:bob:login"))
        await h.control("revoke", platform="instagram", account=ACCOUNT)
        dead = await h.post()
        assert dead.state is S.NEEDS_ATTENTION and dead.attention == Attention.LOGIN, dead
        bob: UploadRequest = replace(h.request, account="bob")
        planned = h.pipeline.plan(bob, "instagram")
        done = await h.pipeline.drive(planned.id, 30.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["account"] == "bob"

    go(emulator, media, scenario)


def test_the_accounts_choices_shape_the_container(emulator: Emulator, media: Path) -> None:
    async def scenario(h: Harness) -> None:
        choices = [
            ({"share_to_feed": False, "thumb_offset_ms": 1500}, {"thumb_offset": "1500"}),
            ({"thumb_offset_ms": 10, "cover_url": "https://x.test/c.jpg"}, {}),
            ({}, {}),
        ]
        for options, extra in choices:
            await h.provider.upload(replace(h.request, options=options), None, h.save_ref)
            create = [r for r in h.sent if r.method == "POST" and r.url.path.endswith("/media")]
            form = dict(httpx.QueryParams(create[-1].content.decode()))
            assert form["media_type"] == "REELS" and form["upload_type"] == "resumable"
            assert form["caption"] == h.request.description
            assert form["share_to_feed"] == (
                "false" if options.get("share_to_feed") is False else "true"
            )
            if "cover_url" in options:  # the cover wins over the offset (providers.md §3.1)
                assert form["cover_url"] == options["cover_url"] and "thumb_offset" not in form
            for key, value in extra.items():
                assert form[key] == value
        assert all(
            r.url.path.startswith("/instagram/v26.0/")
            for r in h.sent
            if "rupload" not in r.url.path
        )
        rupload = [r for r in h.sent if "/rupload/" in r.url.path and r.method == "POST"]
        assert rupload and all(r.headers["authorization"].startswith("OAuth ") for r in rupload)
        assert all({"offset", "file_size"} <= set(r.headers) for r in rupload)

    go(emulator, media, scenario)


def test_a_capped_post_waits_once_until_its_oldest_post_leaves_the_window(
    emulator: Emulator, media: Path, second: Path
) -> None:
    """At the cap, the post is parked until the oldest Reel of the window is 24 h old (read from
    the account's recent media), not re-asked every few minutes: one wait, saying when."""

    async def scenario(h: Harness) -> None:
        await ig(h, "publishing_limit", quota_total=1, quota_duration=86400)
        await h.post()
        [first] = await h.posts()
        oldest = datetime.fromisoformat(str(first["created_at"]))
        other = h.pipeline.plan(make_request(second, "Other clip"), "instagram")
        parked = other
        for _ in range(200):  # until the publisher parks it for the cap
            await h.pipeline.publisher.work(other.id)
            parked = h.pipeline.ledger.get(other.id) or parked
            if parked.retry_at is not None and "limit" in (parked.last_error or ""):
                break
            await asyncio.sleep(0.02)
        assert parked.retry_at is not None, parked
        frees = oldest + timedelta(seconds=86400)
        assert frees <= parked.retry_at <= frees + timedelta(minutes=2), (parked.retry_at, frees)
        assert f"waiting until {parked.retry_at:%Y-%m-%d %H:%M} UTC" in (parked.last_error or "")

    go(emulator, media, scenario)


def test_a_container_answered_without_its_uri_is_sent_to_the_documented_upload_url(
    emulator: Emulator, media: Path
) -> None:
    """Some real container answers carry only ``{"id"}`` (providers.md §3.1): the bytes go to
    the documented ``…/ig-api-upload/<ver>/<container>`` instead of a new container each retry."""

    async def scenario(h: Harness) -> None:
        await ig(h, "container_uri", on=False)
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256
        assert containers_made(h) == 1
        cid = RemoteRef.from_json(done.remote_ref or "{}").data["id"]
        sent = [r.url.path for r in h.sent if r.method == "POST" and "/rupload/" in r.url.path]
        assert sent and all(p == f"/instagram/rupload/ig-api-upload/v26.0/{cid}" for p in sent)

    go(emulator, media, scenario)


def test_a_renewal_cut_off_mid_upload_is_finished_by_the_next_publish(
    emulator: Emulator, media: Path
) -> None:
    """The container expired while the post waited; ``publish`` makes a new one and its upload
    is cut off (a dropped connection). The post is in ``publishing``: the pipeline only asks
    ``status`` and calls ``publish`` again, so status must not say "uploading" for ever; the
    next publish sends the missing bytes, then publishes once."""

    async def scenario(h: Harness) -> None:
        first = await h.upload()
        assert first.ref is not None
        await ready(h, first.ref)
        await ig(h, "expire_containers")
        await h.fault("media", "drop", nth=2)  # the new container's second chunk
        with pytest.raises(TransientError):
            await h.provider.publish(h.request, first.ref, h.save_ref)
        renewal = h.refs[-1]
        assert renewal.data["id"] != first.ref.data["id"] and not renewal.data.get("sent")
        status = await h.provider.status(ACCOUNT, renewal)
        assert status.phase is RemotePhase.READY, status
        done = await h.provider.publish(h.request, renewal, h.save_ref)
        [post] = await h.posts()
        assert post["id"] == done.remote_id and post["sha256"] == h.request.sha256
        assert containers_made(h) == 2

    go(emulator, media, scenario)
