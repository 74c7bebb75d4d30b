"""``atroposd upload --once``: process what is ready now, wait for it, summarise, exit."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import timedelta
from typing import TextIO

import structlog

from atroposd.app import App
from atroposd.bus import UploadProgressed
from atroposd.domain import ACTIVE, PostState

log = structlog.get_logger("atroposd")
S = PostState
WAIT_FOR_RETRIES = timedelta(minutes=10)


async def _bar(app: App, out: TextIO) -> None:
    """A progress bar per upload, redrawn in place (only on a terminal)."""
    queue = app.sv.bus.subscribe(UploadProgressed)
    while True:
        ev = await queue.get()
        pct = ev.done * 100 // max(ev.total, 1)
        filled = pct // 4
        out.write(
            f"\rpost {ev.post_id} [{'#' * filled}{'.' * (25 - filled)}] {pct:3d}% "
            f"{ev.done / 1e6:8.1f}/{ev.total / 1e6:.1f} MB"
        )
        if ev.done >= ev.total:
            out.write("\n")
        out.flush()


def _plan_only(app: App, files_list: list[object]) -> None:
    for files in files_list:
        acc = getattr(files, "account", "")
        for platform in app.config.platforms_for(acc):
            if app.wanted(acc, platform):
                log.info(
                    "PLAN",
                    account=acc,
                    platform=platform,
                    clip=getattr(files, "rel", ""),
                    post_id=None,
                    dry_run=True,
                )


async def upload_once(app: App, account: str | None, platform: str | None, dry_run: bool) -> int:
    """Returns 0 when every touched post is published, 1 otherwise."""
    app.only = (account, platform)
    app.announce()
    sv = app.build()
    bar = asyncio.create_task(_bar(app, sys.stderr)) if sys.stderr.isatty() else None
    try:
        # A second pass one settle period later catches files that were still being written.
        found = await sv.watcher.scan_once()
        await asyncio.sleep(app.settings.settle_seconds)
        found += await sv.watcher.scan_once()
        ready = [f for f in found if account in (None, f.account)]
        if dry_run:
            _plan_only(app, list(ready))
            return 0
        await app.start_emulator_if_needed()
        sv.reconciler.finish_archiving()
        for files in ready:
            await app.admit(files)
        touched = {p.id for p in sv.ledger.list_posts(ACTIVE) if app.wanted(p.account, p.platform)}
        await _settle(app, touched)
        return _summary(app, touched)
    finally:
        if bar is not None:
            bar.cancel()
        await app.close(sv)


async def _settle(app: App, touched: set[int]) -> None:
    """Kick and wait until every touched post is terminal or not due soon."""
    sv = app.sv
    while True:
        sv.reconciler.sweep(lambda post: post.id in touched)
        await sv.publisher.drain()
        pending = [
            p for p in (sv.ledger.get(i) for i in touched) if p is not None and p.state in ACTIVE
        ]
        if not pending:
            return
        now = app.clock.now()
        soon = [
            p.retry_at
            for p in pending
            if p.retry_at is not None and p.retry_at - now <= WAIT_FOR_RETRIES
        ]
        if not soon:
            return
        await asyncio.sleep(max(0.0, (min(soon) - now).total_seconds()))


def _summary(app: App, touched: set[int]) -> int:
    by_platform: dict[str, Counter[str]] = {}
    for post_id in sorted(touched):
        post = app.sv.ledger.get(post_id)
        if post is not None:
            by_platform.setdefault(post.platform, Counter())[post.state.value] += 1
    ok = True
    for platform, counts in sorted(by_platform.items()):
        log.info("summary", platform=platform, **dict(counts))
        ok = ok and set(counts) <= {S.PUBLISHED.value}
    if not by_platform:
        log.info("summary", note="nothing ready to upload")
    return 0 if ok else 1
