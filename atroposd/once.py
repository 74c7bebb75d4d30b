"""``atroposd upload --once``: process what is ready now, wait for it, summarise, exit."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import structlog

from atroposd.app import App
from atroposd.bus import UploadProgressed
from atroposd.domain import ACTIVE, Attention, ClipFiles, PostState
from atroposd.errors import InputError
from atroposd.pipeline.intake import parse_sidecar, sha256_file
from atroposd.providers import REGISTRY
from atroposd.store.ledger import Ledger
from atroposd.watch.watcher import ClipWatcher

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


async def scan_twice(watcher: ClipWatcher, settle: float) -> list[ClipFiles]:
    """Ready pairs now, plus those that were still being written one settle period ago."""
    found = await watcher.scan_once()
    await asyncio.sleep(settle)
    return found + await watcher.scan_once()


def _sidecar_platforms(files: ClipFiles) -> list[str] | None:
    """The sidecar's ``platforms`` list, when it has one."""
    if files.sidecar is None:
        return None
    return parse_sidecar(files.sidecar, set(REGISTRY)).platforms


async def plan_only(app: App) -> int:
    """Log the PLAN lines an upload would produce; write nothing, send nothing."""
    s = app.settings

    async def ignore(files: ClipFiles) -> None:
        return None

    async def report(path: Path, reason: str) -> None:
        log.warning("clip_problem", path=str(path), reason=reason, action="left in place")

    watcher = ClipWatcher(
        upload_folder=s.upload_folder,
        out_root=s.out_root,
        default_account=app.config.default_account,
        on_ready=ignore,
        on_problem=report,
        clock=app.clock,
        settle_seconds=s.settle_seconds,
        fragmented_settle_seconds=s.fragmented_settle_seconds,
    )
    db = s.state_dir / "ledger.sqlite3"
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if db.exists() else None
    if conn is not None:
        conn.row_factory = sqlite3.Row
    ledger = Ledger(conn, app.clock) if conn is not None else None
    planned = 0
    try:
        for files in await scan_twice(watcher, s.settle_seconds):
            sha, _ = await asyncio.to_thread(sha256_file, files.video)
            known = {p.platform for p in ledger.posts_of(sha, files.account)} if ledger else set()
            try:
                chosen = _sidecar_platforms(files)
            except InputError as exc:
                await report(files.video, str(exc))
                continue
            for platform in app.config.platforms_for(files.account):
                if chosen is not None and platform not in chosen:
                    continue
                if app.wanted(files.account, platform) and platform not in known:
                    planned += 1
                    log.info(
                        "PLAN",
                        account=files.account,
                        platform=platform,
                        clip=files.rel,
                        post_id=None,
                        sha256=sha,
                        dry_run=True,
                    )
    finally:
        if conn is not None:
            conn.close()
    log.info("summary", dry_run=True, planned=planned)
    return 0


async def upload_once(app: App, account: str | None, platform: str | None, dry_run: bool) -> int:
    """Returns 0 when every touched post is published, 1 otherwise."""
    app.only = (account, platform)
    app.announce()
    if dry_run:
        app.check_folders(watched_only=True)  # the ledger is only read, and only if it exists
        return await plan_only(app)
    sv = app.build()
    app.warn_held()
    bar = asyncio.create_task(_bar(app, sys.stderr)) if sys.stderr.isatty() else None
    try:
        found = await scan_twice(sv.watcher, app.settings.settle_seconds)
        ready = [f for f in found if account in (None, f.account)]
        await app.start_emulator_if_needed()
        sv.reconciler.finish_archiving()
        since = app.clock.now()
        for files in ready:
            await app.admit(files)
        touched = _touched(app, since)
        await _settle(app, touched)
        await sv.archiver.drain()  # files of published clips still moving to the archive
        return _summary(app, touched)
    finally:
        if bar is not None:
            bar.cancel()
        await app.close(sv)


def _touched(app: App, since: datetime) -> set[int]:
    """The posts of this run: the active ones, and those changed since the admits began (a
    post kicked by one admit can be published while the next clip is admitted). A plan this
    run's new version of a clip superseded is not one of them: its successor is."""
    return {
        p.id
        for p in app.sv.ledger.list_posts()
        if (
            p.state in ACTIVE
            or (
                p.updated_at.tzinfo is not None
                and p.updated_at >= since
                and p.attention != Attention.SUPERSEDED
            )
        )
        and app.wanted(p.account, p.platform)
    }


async def _settle(app: App, touched: set[int]) -> None:
    """Kick and wait until every touched post is done, held, parked or not due soon."""
    sv, seen = app.sv, None
    while True:
        sv.reconciler.sweep(lambda post: post.id in touched)
        await sv.publisher.drain()
        pending = [
            p
            for p in (sv.ledger.get(i) for i in touched)
            if p is not None and p.state in ACTIVE and app.enabled(p.account, p.platform)
        ]
        now = app.clock.now()
        soon = [  # a quota reset is not worth waiting for, however close it is
            p.retry_at
            for p in pending
            if p.retry_at is not None
            and now < p.retry_at <= now + WAIT_FOR_RETRIES
            and p.id not in sv.publisher.parked
        ]
        if soon:
            await asyncio.sleep((min(soon) - now).total_seconds())
            continue
        state = {(p.id, p.state, p.retry_at, p.attempts) for p in pending}
        if not pending or state == seen:
            return  # done, or nothing moved in a whole pass
        seen = state  # something changed (e.g. came due during the drain): one more pass


def _summary(app: App, touched: set[int]) -> int:
    by_platform: dict[str, Counter[str]] = {}
    for post_id in sorted(touched):
        post = app.sv.ledger.get(post_id)
        if post is not None:
            by_platform.setdefault(post.platform, Counter())[post.state.value] += 1
    ok = True
    for platform, counts in sorted(by_platform.items()):
        log.info("summary", platform=platform, **dict(counts))
        ok = ok and set(counts) <= {S.PUBLISHED.value, S.SCHEDULED.value}  # scheduled: on the
        # platform, which publishes it at its time (ADR 0015)
    if not by_platform:
        log.info("summary", note="nothing ready to upload")
    return 0 if ok else 1
