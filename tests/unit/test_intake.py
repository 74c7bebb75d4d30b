"""``Intake.admit``: a ready pair of files becomes one post per enabled platform, on a real
ledger, with real clips; unusable input is an ``InputError`` naming the file."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog.testing

from atroposd.domain import ClipFiles, PostState
from atroposd.errors import InputError
from atroposd.pipeline.intake import CAPTION_MAX_BYTES, Admitted, Intake
from atroposd.pipeline.request import build_request
from atroposd.providers.youtube.provider import YouTubeProvider
from tests.support import sha256
from tests.unit.pipeline_support import Desk, desk, real_clip

S = PostState
KNOWN = {"youtube", "twostep", "tiktok"}
ENABLED = {"alice": ["youtube", "twostep"], "bob": ["youtube"], "carol": []}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("intake")
    return real_clip(folder, seed=11), real_clip(folder, seed=12)


@dataclass
class Inbox:
    d: Desk
    clips: tuple[Path, Path]
    platforms_for: Callable[[str], list[str]]

    def intake(self) -> Intake:
        """An ``Intake`` as a daemon process builds it (a new one is a restart)."""
        return Intake(self.d.ledger, self.platforms_for, KNOWN, self.d.clock)

    def pair(
        self,
        stem: str,
        caption: str | bytes = "Clip\n\n#shorts",
        clip: int = 0,
        sidecar: Mapping[str, object] | None = None,
        account: str = "alice",
    ) -> ClipFiles:
        root = self.d.queue
        folder = root / account if account != "alice" else root
        folder.mkdir(parents=True, exist_ok=True)
        video = folder / f"{stem}.mp4"
        shutil.copyfile(self.clips[clip], video)
        text = video.with_suffix(".txt")
        if isinstance(caption, bytes):
            text.write_bytes(caption)
        else:
            text.write_text(caption, encoding="utf-8")
        side = None
        if sidecar is not None:
            side = video.with_suffix(".json")
            side.write_text(json.dumps(sidecar), encoding="utf-8")
        return ClipFiles(video, text, side, root, account)


@pytest.fixture
def inbox(tmp_path: Path, clips: tuple[Path, Path]) -> Iterator[Inbox]:
    with desk(tmp_path, clips[0]) as d:
        yield Inbox(d, clips, lambda account: list(ENABLED.get(account, [])))


def admit(intake: Intake, files: ClipFiles) -> Admitted:
    return asyncio.run(intake.admit(files))


def test_a_pair_becomes_one_ready_post_per_enabled_platform(inbox: Inbox) -> None:
    files = inbox.pair("first")
    with structlog.testing.capture_logs() as logs:
        done = admit(inbox.intake(), files)
    assert done.sha256 == sha256(files.video)
    assert sorted(p.platform for p in done.new) == ["twostep", "youtube"]
    posts = inbox.d.ledger.list_posts()
    assert sorted((p.platform, p.state) for p in posts) == [
        ("twostep", S.READY),
        ("youtube", S.READY),
    ]
    plans = [e for e in logs if e["event"] == "PLAN"]
    assert sorted(e["platform"] for e in plans) == ["twostep", "youtube"]
    assert {(e["clip"], e["bytes"]) for e in plans} == {("first.mp4", files.video.stat().st_size)}
    drop = inbox.d.ledger.drop_of(posts[0].id)
    assert drop.caption == "Clip\n\n#shorts" and drop.video_path == files.video


def test_another_account_gets_only_its_own_platforms(inbox: Inbox) -> None:
    done = admit(inbox.intake(), inbox.pair("first", account="bob"))
    assert [(p.account, p.platform) for p in done.new] == [("bob", "youtube")]


def test_an_account_with_no_platform_enabled_is_told_so(inbox: Inbox) -> None:
    files = inbox.pair("first", account="carol")
    with pytest.raises(InputError, match="no platform to post to") as err:
        admit(inbox.intake(), files)
    assert str(files.video) in str(err.value)
    assert "'carol' has no platform enabled (a typo in the folder name?" in str(err.value)
    assert inbox.d.ledger.list_posts() == []


def test_the_same_video_under_another_name_is_not_planned_twice(inbox: Inbox) -> None:
    intake = inbox.intake()
    first = admit(intake, inbox.pair("first"))
    again = admit(intake, inbox.pair("renamed copy"))
    assert again.sha256 == first.sha256
    assert again.new == [] and sorted(p.id for p in again.known) == sorted(p.id for p in first.new)
    assert len(inbox.d.ledger.list_posts()) == 2
    after_restart = admit(inbox.intake(), inbox.pair("first"))
    assert after_restart.new == [] and len(inbox.d.ledger.list_posts()) == 2


def test_a_different_video_is_planned_on_its_own(inbox: Inbox) -> None:
    intake = inbox.intake()
    admit(intake, inbox.pair("first"))
    other = admit(intake, inbox.pair("second", clip=1))
    assert len(other.new) == 2 and len(inbox.d.ledger.list_posts()) == 4


@pytest.mark.parametrize("caption", [" \n\t \n", "\ufeff  \r\n"])
def test_a_caption_of_only_whitespace_is_refused_naming_the_file(
    inbox: Inbox, caption: str
) -> None:
    files = inbox.pair("blank", caption=caption)
    with pytest.raises(InputError, match="empty") as err:
        admit(inbox.intake(), files)
    assert str(files.caption) in str(err.value)
    assert inbox.d.ledger.list_posts() == []


def test_a_caption_over_64_kib_is_refused_naming_the_file(inbox: Inbox) -> None:
    files = inbox.pair("huge", caption=b"a" * (CAPTION_MAX_BYTES + 1))
    with pytest.raises(InputError, match="64 KiB") as err:
        admit(inbox.intake(), files)
    assert str(files.caption) in str(err.value)
    assert inbox.d.ledger.list_posts() == []


def test_a_caption_of_exactly_64_kib_is_a_caption(inbox: Inbox) -> None:
    done = admit(inbox.intake(), inbox.pair("long", caption=b"b" * CAPTION_MAX_BYTES))
    assert len(done.new) == 2
    assert done.drop.caption == "b" * CAPTION_MAX_BYTES


def test_a_caption_that_is_not_utf8_is_refused_naming_the_file(inbox: Inbox) -> None:
    files = inbox.pair("latin1", caption="Café olé".encode("latin-1"))
    with pytest.raises(InputError, match="UTF-8") as err:
        admit(inbox.intake(), files)
    assert str(files.caption) in str(err.value)


def test_an_empty_video_is_refused_naming_the_file(inbox: Inbox) -> None:
    files = inbox.pair("empty")
    files.video.write_bytes(b"")
    with pytest.raises(InputError, match="empty") as err:
        admit(inbox.intake(), files)
    assert str(files.video) in str(err.value)


# -- sidecars ------------------------------------------------------------------------------


def test_the_sidecar_platforms_list_is_honoured(inbox: Inbox) -> None:
    done = admit(inbox.intake(), inbox.pair("only", sidecar={"platforms": ["twostep"]}))
    assert [p.platform for p in done.new] == ["twostep"]
    assert [p.platform for p in inbox.d.ledger.list_posts()] == ["twostep"]


def test_a_sidecar_cannot_add_a_platform_the_account_does_not_enable(inbox: Inbox) -> None:
    files = inbox.pair("bob only", sidecar={"platforms": ["twostep"]}, account="bob")
    with pytest.raises(InputError, match="no platform to post to") as err:
        admit(inbox.intake(), files)
    assert files.sidecar is not None and str(files.sidecar) in str(err.value)
    assert inbox.d.ledger.list_posts() == []


def test_a_sidecar_naming_an_unknown_platform_is_refused_naming_the_file(inbox: Inbox) -> None:
    files = inbox.pair("typo", sidecar={"platforms": ["youtub"]})
    with pytest.raises(InputError, match="youtub") as err:
        admit(inbox.intake(), files)
    assert files.sidecar is not None and str(files.sidecar) in str(err.value)


def test_a_sidecar_override_applies_to_its_platform_only(inbox: Inbox) -> None:
    sidecar = {"title": "Shared title", "youtube": {"title": "YouTube's own title"}}
    done = admit(inbox.intake(), inbox.pair("titled", sidecar=sidecar))
    caps = YouTubeProvider.capabilities
    titles = {}
    for post in done.new:
        drop = inbox.d.ledger.drop_of(post.id)
        titles[post.platform] = build_request(post, drop, 1, caps, {}).title
    assert titles == {"youtube": "YouTube's own title", "twostep": "Shared title"}
