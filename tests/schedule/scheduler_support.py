"""A scheduler on the pipeline rig (real ledger, publisher, providers, emulator over loopback),
driven by the fake clock through a ``ClockTimer``: time jumps to each due job, no sleeping."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from atroposd.domain import PostState
from atroposd.pipeline.scheduler import PostScheduler
from atroposd.pipeline.timer import ClockTimer
from atroposd.schedule.model import ScheduleConfig
from tests.unit.pipeline_support import ACCOUNT, Rig

S = PostState


@dataclass
class Block:
    """A platform's block of an account: enabled, with an optional schedule."""

    schedule: ScheduleConfig | None = None
    enabled: bool = True


@dataclass
class Platforms:
    blocks: dict[str, Block]

    def enabled(self) -> list[str]:
        return [name for name, block in self.blocks.items() if block.enabled]

    def __getattr__(self, name: str) -> Block | None:
        return self.__dict__["blocks"].get(name)


@dataclass
class Account:
    platforms: Platforms
    schedule: ScheduleConfig | None = None


@dataclass
class Config:
    """What the scheduler reads of upload_config.json (the rig's platforms are test ones)."""

    accounts: Mapping[str, Account] = field(default_factory=dict)


def config(schedule: dict[str, Any], **platforms: dict[str, Any] | None) -> Config:
    """One account (the rig's) with an account schedule and per-platform overrides."""
    blocks = {
        name: Block(ScheduleConfig.model_validate(own) if own else None)
        for name, own in platforms.items()
    }
    return Config({ACCOUNT: Account(Platforms(blocks), ScheduleConfig.model_validate(schedule))})


def scheduler(r: Rig, cfg: Config, natively: tuple[str, ...] = ("youtube",)) -> PostScheduler:
    """A scheduler wired to the rig's publisher as app.py wires it, on a clock timer."""
    sched = PostScheduler(
        r.ledger, r.publisher, cfg, r.clock, lambda p: p in natively, ClockTimer(r.clock)
    )
    r.publisher.hold = sched.holds
    return sched


async def run_until(r: Rig, sched: PostScheduler, end: datetime) -> None:
    """Move the fake clock from job to job up to ``end``, running each job and its posts."""
    timer = sched.timer
    assert isinstance(timer, ClockTimer)
    await r.publisher.drain()
    while (due := timer.next_due()) is not None and due <= end:
        if due > r.clock.now():
            r.clock.advance((due - r.clock.now()).total_seconds())
        await timer.run_due()
        await r.publisher.drain()
    if end > r.clock.now():
        r.clock.advance((end - r.clock.now()).total_seconds())


def jump_to(r: Rig, when: datetime) -> None:
    """Move the fake clock forward to ``when`` (before anything runs)."""
    assert when >= r.clock.now()
    r.clock.advance((when - r.clock.now()).total_seconds())


def started(r: Rig, platform: str | None = None) -> list[tuple[datetime, int]]:
    """(when it first entered uploading, post id) of every post, in time order."""
    out = []
    for post in r.ledger.list_posts(None, ACCOUNT, platform):
        at = r.ledger.entered_at(post.id, S.UPLOADING, first=True)
        if at is not None:
            out.append((at, post.id))
    return sorted(out)


def entered(r: Rig, post_id: int, state: PostState) -> datetime | None:
    return r.ledger.entered_at(post_id, state, first=True)
