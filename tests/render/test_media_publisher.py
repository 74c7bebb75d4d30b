"""The media check inside the publisher: a saved platform handle is asked about first."""

from __future__ import annotations

import asyncio
from pathlib import Path

from atroposd.domain import PostState
from atroposd.pipeline.publisher import Polling, Publisher
from atroposd.pipeline.retry import RetryPolicy
from atroposd.pipeline.variants import MediaCheck
from atroposd.providers.base import RemoteRef
from tests.media_clips import long_clip
from tests.unit.pipeline_support import Rig, runner

S = PostState


def media_publisher(r: Rig, cache: Path) -> Publisher:
    """The publisher as app.py builds it, with the media check."""

    async def sleep(seconds: float) -> None:
        r.clock.advance(seconds)
        await asyncio.sleep(0)

    return Publisher(
        r.ledger,
        r.providers,
        r.bus,
        r.clock,
        RetryPolicy(),
        r.archiver,
        lambda account, platform: {},
        lambda account, platform: True,
        polling=Polling(),
        sleep=sleep,
        media=MediaCheck(cache),
    )


def test_a_post_published_before_a_crash_is_recorded_though_its_verdict_is_now_reject(
    tmp_path: Path,
) -> None:
    """kill -9 after the last chunk (the platform published), then the clip's verdict is
    'reject' (limits changed in an upgrade; or its variant cannot be made now): the restart
    must record the post as published, not 'failed' by a media check it no longer needs."""
    clip = long_clip(tmp_path / "long.mp4", seconds=181.0)  # YouTube's Shorts limit: 180 s

    async def scenario(r: Rig) -> None:
        [post] = r.plan("long", ("youtube",))
        provider, request = r.providers["youtube"], r.request(post.id)

        async def keep(ref: RemoteRef) -> None:
            pass

        result = await provider.upload(request, None, keep)  # went out; the process died
        assert result.ref is not None
        r.put(post.id, S.UPLOADING, remote_ref=result.ref.to_json(), bytes_sent=result.bytes_sent)
        publisher = media_publisher(r, tmp_path / "renders")
        await publisher.work(post.id)
        await publisher.drain()
        done = r.get(post.id)
        assert done.state is S.PUBLISHED, (done.last_error, r.ledger.history(post.id))
        assert len(await r.posts("youtube")) == 1

    runner(tmp_path / "rig", clip)(scenario)
