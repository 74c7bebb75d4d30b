"""Snapchat's own behaviours, through the suite's harness and the daemon's publisher.

Spotlight or Story per account option, a processing failure with Snap's reason, the
description limit, every fault kind on every step (one post each), the key and the media
handle saved before anything they protect, a resume that re-encrypts identically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from atroposd.bus import Bus
from atroposd.domain import PostState
from atroposd.errors import PermanentError
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers.base import RemoteRef
from atroposd.store.db import connect
from atroposd.store.ledger import Ledger
from tests.providers.harness import ACCOUNT, Harness, make_request, run
from tests.providers.pipeline import Pipeline
from tests.providers.test_snapchat_conformance import SNAPCHAT
from tests.support import Emulator, make_clip, sha256
from tests.unit.support import FakeClock

S = PostState
Drive = Callable[..., None]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SNAPCHAT.make_media(tmp_path_factory.mktemp("snap") / "clip.mp4")


@pytest.fixture
def drive(emulator: Emulator, media: Path) -> Drive:
    def go(scenario: Callable[[Harness], Any], path: Path = media, **changes: Any) -> None:
        request = replace(make_request(path), **changes)
        run(SNAPCHAT, emulator, request, scenario)

    return go


def with_options(
    h: Harness,
    options: Mapping[str, object],
    name: str = "opts",
    polling: Polling = Polling(first=0.02, cap=0.2, deadline=15.0),  # noqa: B008 - frozen
) -> Pipeline:
    """The daemon's publisher on a fresh ledger, for an account whose snapchat block is
    ``options`` (as ``App._options`` gives it)."""
    h.pipeline.close()
    clock = FakeClock(datetime.now(UTC))

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(seconds)

    home = h.pipeline.home / name
    conn = connect(home / "state" / "ledger.sqlite3")
    ledger = Ledger(conn, clock)
    publisher = Publisher(
        ledger,
        {h.provider.name: h.provider},
        Bus(),
        clock,
        RetryPolicy(),
        Archiver(ledger, home / "posted", delete=False),
        lambda account, platform: options,
        lambda account, platform: True,
        polling=polling,
        sleep=sleep,
    )
    return Pipeline(ledger, publisher, clock, home, conn, 15.0, h.provider)


async def snap_media(h: Harness) -> list[dict[str, Any]]:
    """The emulator's media objects (parts held, times each part was stored, posts)."""
    resp = (await h.ctl.get("/snapchat/_emulator/media")).raise_for_status()
    return list(resp.json())


# -- Spotlight or Story -------------------------------------------------------------------------


@pytest.mark.parametrize("publish_to", ["spotlight", "story"])
def test_the_account_option_picks_spotlight_or_story(drive: Drive, publish_to: str) -> None:
    async def scenario(h: Harness) -> None:
        h.pipeline = with_options(h, {"publish_to": publish_to, "locale": "de_DE"})
        done = await h.post()
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and done.remote_id == post["id"]
        [made] = await snap_media(h)
        assert made["posted"] == [post["id"]]
        if publish_to == "story":  # no caption on a Story; its id came from the stories list
            assert post["caption"] == "" and done.url is None
        else:
            assert post["caption"] == h.request.description
            assert done.url == f"https://www.snapchat.com/spotlight/{post['id']}"

    drive(scenario)


@pytest.mark.parametrize("publish_to", ["spotlight", "story"])
def test_a_publish_lost_after_the_commit_is_found_on_the_profile_not_sent_again(
    drive: Drive, publish_to: str
) -> None:
    async def scenario(h: Harness) -> None:
        h.pipeline = with_options(h, {"publish_to": publish_to})
        await h.fault("publish", "commit_then_drop")
        done = await h.post()
        assert await h.faults_left() == []
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert done.remote_id == post["id"]
        posts = [
            r
            for r in h.sent
            if r.method == "POST" and r.url.path.endswith(("/spotlights", "/stories"))
        ]
        assert len(posts) == 1, "status did not find the post: the publish went out again"

    drive(scenario)


# -- processing failure, description ------------------------------------------------------------


def test_a_processing_failure_fails_the_post_with_snaps_reason(
    drive: Drive, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "real.mp4", seconds=1.0, bitrate="1M").read_bytes()
    head = clip[: int.from_bytes(clip[:4], "big")]  # ftyp only: starts like an MP4, no movie
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(head + (8 + 600_000).to_bytes(4, "big") + b"mdat" + bytes(600_000))

    async def scenario(h: Harness) -> None:
        done = await h.post()
        assert done.state is S.FAILED, (done.state, done.last_error)
        assert "no moov box" in (done.last_error or ""), done.last_error
        assert await h.posts() == []

    drive(scenario, broken, size=broken.stat().st_size, sha256=sha256(broken))


def test_a_spotlight_description_over_160_is_refused_offline_and_a_story_takes_it(
    drive: Drive,
) -> None:
    async def scenario(h: Harness) -> None:
        long = replace(h.request, description="x" * 161)
        with pytest.raises(PermanentError) as info:
            h.provider.validate(long)
        assert "161 characters" in str(info.value) and "160" in str(info.value)
        h.provider.validate(replace(long, options={"publish_to": "story"}))
        assert h.sent == [], "validate() touched the network"

    drive(scenario)


def test_a_long_caption_is_fitted_to_160_keeping_its_hashtags(drive: Drive) -> None:
    text = "A long caption. " * 20 + "#snap #clip"

    async def scenario(h: Harness) -> None:
        planned = h.pipeline.plan(h.request, "snapchat", sidecar=False)  # the caption file
        done = await h.pipeline.drive(planned.id, 15.0)
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert len(post["caption"]) <= 160 and post["caption"].endswith("#snap #clip")

    drive(scenario, description=text)


# -- every fault kind on every step --------------------------------------------------------------

STEPS = ["token", "profile", "create", "add", "finalize", "status", "publish", "list"]
KINDS: list[dict[str, Any]] = [
    {"action": "status", "code": 503},
    {"action": "status", "code": 429},
    {"action": "drop"},
    {"action": "commit_then_drop"},  # last: the step's work is done, its answer lost
]


@pytest.fixture(scope="module")
def two_parts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = make_clip(tmp_path_factory.mktemp("snap2") / "two.mp4", seconds=2.0, bitrate="1500k")
    assert 256 * 1024 < path.stat().st_size < 2 * 256 * 1024 - 16
    return path


@pytest.mark.parametrize("step", STEPS)
def test_each_fault_kind_on_each_step_still_makes_exactly_one_post(
    drive: Drive, two_parts: Path, step: str
) -> None:
    async def scenario(h: Harness) -> None:
        # Polls a little slower than the suite's: fewer requests under Snap's 10/s.
        h.pipeline = with_options(h, {}, polling=Polling(first=0.1, cap=0.2, deadline=15.0))
        rules = [
            {"platform": "snapchat", "step": step, "nth": n, **kind}
            for n, kind in enumerate(KINDS, 1)
        ]
        (await h.ctl.post("/_emulator/faults", json=rules)).raise_for_status()
        done = await h.post()
        assert await h.faults_left() == [], f"not every fault on {step} fired"
        assert done.state is S.PUBLISHED, (done.state, done.last_error)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256 and post["id"] == done.remote_id
        for made in await snap_media(h):  # a stored part was never sent again after its ack
            assert all(n == 1 for n in made["stores"].values()) or step == "add", made

    drive(scenario, two_parts, size=two_parts.stat().st_size, sha256=sha256(two_parts))


# -- handles, resume -----------------------------------------------------------------------------


def test_the_key_is_saved_before_create_and_the_paths_before_the_first_part(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        seen: list[tuple[dict[str, str], list[dict[str, Any]]]] = []

        async def record(ref: RemoteRef) -> None:
            seen.append((dict(ref.data), await snap_media(h)))

        h.on_save_ref = record
        result = await h.upload()
        (first, before), (second, after) = seen[0], seen[1]
        assert {"key", "iv"} <= set(first) and "media_id" not in first and before == []
        assert second["key"] == first["key"] and second["iv"] == first["iv"]
        assert second["add_path"].startswith("/us/v1/") and "upload_id=" in second["add_path"]
        assert [m["parts"] for m in after] == [{}], "a part went out before its handle"
        assert result.ref is not None and result.ref.data["media_id"] == second["media_id"]
        parts = [int(data.get("parts", "0")) for data, _ in seen[2:]]
        assert parts[: len(parts) - 1] == list(range(1, len(parts))), parts  # one save per part

    drive(scenario)


@pytest.mark.parametrize("keep_chain", [True, False])
def test_a_resume_re_encrypts_the_same_bytes_with_or_without_the_saved_chain(
    drive: Drive, keep_chain: bool
) -> None:
    async def scenario(h: Harness) -> None:
        await h.fault("media", "drop", nth=3)
        with pytest.raises(Exception):  # noqa: B017 - the dropped third part
            await h.upload()
        ref = h.refs[-1]
        assert ref.data["parts"] == "2" and "chain" in ref.data
        if not keep_chain:
            ref = RemoteRef(ref.kind, {k: v for k, v in ref.data.items() if k != "chain"})
        result = await h.upload(resume=ref)
        assert result.resumed_from == 2 * int(ref.data["part_size"])
        await h.follow(result)
        [post] = await h.posts()
        assert post["sha256"] == h.request.sha256
        [made] = await snap_media(h)
        assert set(made["stores"].values()) == {1}, made  # parts 1 and 2 never sent again

    drive(scenario)


def test_a_rotated_refresh_token_is_stored_and_the_old_one_is_refused_afterwards(
    emulator: Emulator, media: Path
) -> None:
    binding = replace(
        SNAPCHAT,
        credentials=lambda account: replace(
            SNAPCHAT.credentials(account), refresh_token=f"sandbox:{account}:rotate0"
        ),
    )

    async def scenario(h: Harness) -> None:
        await h.follow(await h.upload())
        [saved] = h.creds.saved
        assert saved.refresh_token and saved.refresh_token.startswith(f"sandbox:{ACCOUNT}:rotate:")
        form = {
            "grant_type": "refresh_token",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": f"sandbox:{ACCOUNT}:rotate0",
        }
        old = await h.ctl.post("/snapchat/login/oauth2/access_token", data=form)
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant"

    run(binding, emulator, make_request(media), scenario)


def test_quick_polls_stay_under_snaps_request_rate(drive: Drive) -> None:
    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.ref is not None
        for _ in range(5):  # 15 requests: more than Snap's 10/s, as fast as the provider goes
            await h.provider.status(ACCOUNT, result.ref)

    drive(scenario)
