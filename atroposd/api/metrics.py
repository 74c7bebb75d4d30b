"""``/metrics``: a prometheus-client collector that reads the ledger at scrape time.

Nothing is counted in memory: every figure is a query (or a file size), so the numbers are
right after a restart and agree with ``atroposd posts``. Retries are ``post_history`` rows back
to ``ready``; their cause is read from the note the retry policy wrote.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from atroposd.api.context import Context
from atroposd.api.queries import queued_by_account

CAUSE = """CASE
    WHEN from_state IN ('failed', 'needs_attention', 'cancelled') THEN 'human'
    WHEN note LIKE 'quota%' THEN 'quota'
    WHEN note LIKE 'cannot reach%' THEN 'offline'
    WHEN note LIKE 'the video moved%' THEN 'moved'
    WHEN note LIKE 'retry %' THEN 'error'
    WHEN from_state IN ('processing', 'publishing') THEN 'expired'
    ELSE 'other' END"""


def _posts(conn: sqlite3.Connection) -> Iterator[Metric]:
    posts = GaugeMetricFamily(
        "atroposd_posts", "Posts in the ledger by state and platform", labels=["state", "platform"]
    )
    sent = GaugeMetricFamily(
        "atroposd_uploaded_bytes",
        "Bytes the platforms confirmed, summed over posts",
        labels=["platform"],
    )
    rows = conn.execute(
        "SELECT state, platform, COUNT(*), SUM(bytes_sent) FROM posts GROUP BY state, platform"
    ).fetchall()
    by_platform: dict[str, int] = {}
    for state, platform, n, nbytes in rows:
        posts.add_metric([state, platform], n)
        by_platform[platform] = by_platform.get(platform, 0) + int(nbytes or 0)
    for platform, nbytes in sorted(by_platform.items()):
        sent.add_metric([platform], nbytes)
    yield posts
    yield sent


def _history(conn: sqlite3.Connection) -> Iterator[Metric]:
    retries = CounterMetricFamily(
        "atroposd_retries", "Posts sent back to ready, by cause", labels=["platform", "cause"]
    )
    rows = conn.execute(
        f"SELECT p.platform, {CAUSE} AS cause, COUNT(*) FROM post_history h"
        " JOIN posts p ON p.id = h.post_id WHERE h.to_state = 'ready' AND h.from_state"
        " IS NOT NULL AND h.from_state NOT IN ('planned', 'rendering', 'ready')"
        " GROUP BY p.platform, cause"
    )
    for platform, cause, n in rows:
        retries.add_metric([platform, cause], n)
    yield retries
    last = GaugeMetricFamily(
        "atroposd_last_published_timestamp_seconds",
        "When the last post of each platform was published (Unix time)",
        labels=["platform"],
    )
    rows = conn.execute(
        "SELECT p.platform, MAX(h.at) FROM post_history h JOIN posts p ON p.id = h.post_id"
        " WHERE h.to_state = 'published' GROUP BY p.platform"
    )
    for platform, at in rows:
        last.add_metric([platform], datetime.fromisoformat(at).timestamp())
    yield last


def _ledger(conn: sqlite3.Connection, path: Path) -> Iterator[Metric]:
    queue = GaugeMetricFamily(
        "atroposd_queue_depth", "Posts not finished yet, per account", labels=["account"]
    )
    for account, n in sorted(queued_by_account(conn).items()):
        queue.add_metric([account], n)
    yield queue
    clips = conn.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
    yield GaugeMetricFamily("atroposd_clips", "Clips in the ledger", value=clips)
    problems = conn.execute("SELECT COUNT(*) FROM problems").fetchone()[0]
    yield GaugeMetricFamily(
        "atroposd_file_problems", "Files the watcher reported as unusable", value=problems
    )
    size = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(FileNotFoundError):
            size += Path(f"{path}{suffix}").stat().st_size
    yield GaugeMetricFamily("atroposd_ledger_bytes", "Size of the ledger files", value=size)


class LedgerCollector(Collector):
    """Reads the ledger (and the watcher, when in the daemon) at every scrape."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx

        def read(conn: sqlite3.Connection) -> list[Metric]:
            return [*_posts(conn), *_history(conn), *_ledger(conn, ctx.reader.path)]

        yield from ctx.reader.call(read)
        yield CounterMetricFamily(
            "atroposd_api_progress_dropped",
            "Progress messages dropped for websocket clients that fell behind",
            value=ctx.dropped,
        )
        for name, (kind, text, value) in sorted(ctx.watcher_figures.items()):
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, text, value=value)


def watcher_figures(ctx: Context) -> dict[str, tuple[str, str, float]]:
    """The watcher's figures, read on the event loop (its sets change there)."""
    if ctx.app is None:
        return {}
    watcher = ctx.app.sv.watcher
    return {
        "atroposd_watcher_scans": (
            "counter",
            "Full scans of the watched folders",
            watcher.scans_completed,
        ),
        "atroposd_watcher_folders_unavailable": (
            "gauge",
            "Watched folders that are not there right now",
            len(watcher.unavailable_folders),
        ),
        "atroposd_watcher_files_open": (
            "gauge",
            "Files seen being written and not closed yet",
            len(watcher.open_for_writing),
        ),
    }
