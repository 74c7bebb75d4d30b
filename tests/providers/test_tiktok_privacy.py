"""What TikTok is told about a clip: its privacy (never silently the account's public one), its
media type, and when (TikTok cannot schedule: a future publish_at holds the upload).

A sidecar's ``privacy`` is shared by every platform (docs/configuration.md); TikTok's own
levels are ``PUBLIC_TO_EVERYONE``, ``MUTUAL_FOLLOW_FRIENDS``, ``FOLLOWER_OF_CREATOR`` and
``SELF_ONLY``. ``private`` and ``public`` have exact TikTok equivalents; any other word (such as
YouTube's ``unlisted``) is refused before a request, naming TikTok's levels.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from atroposd.errors import PermanentError, QuotaExhausted
from tests.providers.harness import Harness, make_request, run
from tests.providers.tiktok_support import TIKTOK, publishes, quick, two_chunk_media
from tests.support import Emulator


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_chunk_media(tmp_path_factory.mktemp("tiktok-privacy") / "clip.mp4")


def test_a_private_clip_is_posted_self_only_not_with_the_accounts_public_level(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        await h.follow(await h.upload())
        [publish] = await publishes(h)
        assert publish["post_info"]["privacy_level"] == "SELF_ONLY", publish["post_info"]

    request = replace(
        make_request(media), privacy="private", options={"privacy": "PUBLIC_TO_EVERYONE"}
    )
    run(TIKTOK, emulator, request, quick(scenario))


def test_a_privacy_tiktok_has_no_level_for_is_refused_offline_naming_tiktoks(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        with pytest.raises(PermanentError) as info:
            h.provider.validate(replace(h.request, privacy="unlisted"))
        assert "unlisted" in str(info.value) and "SELF_ONLY" in str(info.value), str(info.value)
        h.provider.validate(replace(h.request, privacy="FOLLOWER_OF_CREATOR"))
        h.provider.validate(replace(h.request, privacy="public"))
        assert h.sent == [], "validate() touched the network"

    run(TIKTOK, emulator, make_request(media), scenario)


def test_an_m4v_clip_named_video_x_m4v_by_the_system_is_sent_as_mp4(
    emulator: Emulator, media: Path
) -> None:
    """``.m4v`` is an MP4 file (README: clips are .mp4, .mov or .m4v); some systems'
    /etc/mime.types call it ``video/x-m4v``, which TikTok's upload host does not take."""

    async def scenario(h: Harness) -> None:
        h.provider.validate(h.request)
        await h.follow(await h.upload())
        puts = [r for r in h.sent if r.method == "PUT"]
        assert puts and {r.headers["content-type"] for r in puts} == {"video/mp4"}

    run(TIKTOK, emulator, replace(make_request(media), mime_type="video/x-m4v"), quick(scenario))


def test_a_clip_with_a_future_publish_at_waits_for_it_instead_of_posting_now(
    emulator: Emulator, media: Path
) -> None:
    """TikTok's direct post publishes as the last byte arrives and has no scheduling, so a
    sidecar's ``publish_at`` holds the whole upload until then (the pipeline parks the post
    without counting an attempt); nothing is sent early."""
    when = datetime.now(UTC) + timedelta(days=1)

    async def scenario(h: Harness) -> None:
        with pytest.raises(QuotaExhausted) as info:
            await h.upload()
        assert info.value.retry_at == when
        assert "publish_at" in str(info.value)
        assert h.sent == [] and await publishes(h) == []

    run(TIKTOK, emulator, replace(make_request(media), publish_at=when), scenario)
