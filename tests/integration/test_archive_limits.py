"""Archiving under real limits, in a child process: a full archive disk (a small tmpfs in a
user namespace: ENOSPC), a file-size limit (RLIMIT_FSIZE: EFBIG, as FAT32 answers a clip over
4 GiB), and a ``kill -9`` in the middle of a move. Nothing partial is ever left under a final
name, no new file appears per sweep, and the next attempt lands on the same name."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atroposd.pipeline.archive import Archiver
from atroposd.store.db import connect
from atroposd.store.ledger import Ledger
from tests.archive_support import listing, other_filesystem, plan, run_child
from tests.support import REPO, make_clip, sha256
from tests.unit.support import FakeClock

ROOM = 64 * 1024  # the archive's room: the caption fits, the video does not


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    queue = tmp_path / "queue"
    video = make_clip(queue / "c.mp4", seconds=2.0, seed=9, bitrate="1M")
    assert video.stat().st_size > 2 * ROOM
    video.with_suffix(".txt").write_text("Clip c\n")
    return video


def child_plan(tmp_path: Path, clip: Path, archive: Path, steps: list[Any]) -> dict[str, Any]:
    return {
        "state": str(tmp_path / "state"),
        "root": str(clip.parent),
        "archive": str(archive),
        "video": str(clip),
        "steps": steps,
    }


def assert_full_then_archived(
    reports: list[dict[str, Any]], clip: Path, size: int, error: str, sweeps: int
) -> None:
    """Every full sweep fails cleanly (said once); the sweep after the room came back archives
    once."""
    for n, report in enumerate(reports[:sweeps]):
        # Said once; the same failure at the next sweeps is retried quietly (no line a minute).
        assert [ln["event"] for ln in report["logs"]] == (["archive_failed"] if n == 0 else [])
        if n == 0:
            assert error in report["logs"][0]["error"]
            assert report["logs"][0]["path"] == str(clip)
        assert not report["files"], f"left in the archive: {report['files']}"
        assert report["queue"] == {"c.mp4": size, "c.txt": 7}  # the pair, untouched
    last = reports[sweeps]
    assert [ln["event"] for ln in last["logs"]] == ["clip_archived"]
    assert last["files"] == {"c.mp4": size, "c.txt": 7}  # the same names, nothing else
    assert last["queue"] == {}
    assert not clip.exists() and not clip.with_suffix(".txt").exists()


def have_user_namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not have_user_namespaces(), reason="no unprivileged user namespaces")
def test_full_archive_disk_leaves_nothing_behind_and_archives_once_there_is_room(
    tmp_path: Path, clip: Path
) -> None:
    archive = tmp_path / "posted"
    archive.mkdir()
    size = clip.stat().st_size
    grow = ["mount", "-o", "remount,size=8m", "tmpfs", str(archive)]
    steps = [{"do": "sweep"}] * 3 + [{"do": "command", "argv": grow}]
    mount = f'mount -t tmpfs -o size={ROOM} tmpfs "$0" && exec "$@"'
    prefix = ("unshare", "-rm", "sh", "-c", mount, str(archive))
    reports = run_child(child_plan(tmp_path, clip, archive, steps), prefix)
    assert len(reports) == 4
    assert_full_then_archived(reports, clip, size, "No space left on device", sweeps=3)


def test_file_size_limit_leaves_nothing_behind_and_archives_once_lifted(
    tmp_path: Path, clip: Path
) -> None:
    with other_filesystem(tmp_path) as archive:
        size = clip.stat().st_size
        limit = {"do": "fsize", "bytes": ROOM}
        lifted = {"do": "fsize", "bytes": -1}  # RLIM_INFINITY
        steps = [limit, {"do": "sweep"}, {"do": "sweep"}, lifted]
        reports = run_child(child_plan(tmp_path, clip, archive, steps))
        assert len(reports) == 4
        assert_full_then_archived(reports, clip, size, "File too large", sweeps=3)
        assert listing(archive) == reports[3]["files"]


def archive_now(tmp_path: Path, clip: Path, archive: Path) -> None:
    """What the next sweep (or the restarted daemon) does, in this process."""
    conn = connect(tmp_path / "state" / "ledger.sqlite3")
    try:
        ledger = Ledger(conn, FakeClock())
        sha, post_id = plan(ledger, clip, clip.parent)

        async def main() -> None:
            archiver = Archiver(ledger, archive, delete=False)
            archiver.maybe_clear(sha, "default", post_id)
            await archiver.drain()

        asyncio.run(main())
    finally:
        conn.close()


@pytest.fixture
def cross(tmp_path: Path) -> Iterator[Path]:
    with other_filesystem(tmp_path) as archive:
        yield archive


@pytest.mark.parametrize(
    ("event", "suffix", "left"),
    [
        ("os.rename", ".c.mp4.part", ".c.mp4.part"),  # copied and fsynced, not yet renamed
        ("os.remove", "queue/c.mp4", "c.mp4"),  # renamed into place, source not yet removed
    ],
)
def test_kill_9_mid_move_then_the_next_attempt_completes_the_same_name(
    tmp_path: Path, clip: Path, cross: Path, event: str, suffix: str, left: str
) -> None:
    data = sha256(clip)
    steps = [{"do": "block", "event": event, "suffix": suffix}]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.archive_support",
            json.dumps(child_plan(tmp_path, clip, cross, steps)),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()  # the child says where it stopped, then waits
        assert json.loads(first or "{}").get("blocked") == event, child.stderr
    finally:
        child.kill()
        child.communicate(timeout=10)  # reaps it and closes the pipes
    assert left in listing(cross) and clip.exists()  # what a kill -9 there leaves
    archive_now(tmp_path, clip, cross)
    assert sorted(listing(cross)) == ["c.mp4", "c.txt"]  # no c.1.mp4, no temp file
    assert sha256(cross / "c.mp4") == data
    assert not clip.exists() and not clip.with_suffix(".txt").exists()
