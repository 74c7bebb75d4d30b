"""Archiving tests' parts: a real ledger with a published clip, and a child process that
archives under real limits (a full tmpfs, a file-size limit) or is killed mid-move.

Run as ``python -m tests.archive_support PLAN_JSON``; the child prints one JSON line per step:
``{"step": i, "files": {path in the archive: size}, "queue": {...}, "logs": [...]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from atroposd.clock import SystemClock
from atroposd.domain import FileIdentity, PostState
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.intake import sha256_file
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger

S = PostState
SHM = Path("/dev/shm")


def drop_of(video: Path, root: Path) -> Drop:
    """The drop of a real video + caption pair under ``root``."""
    return Drop(
        video_path=video,
        caption_path=video.with_suffix(".txt"),
        sidecar_path=None,
        root=root,
        clip_rel=video.relative_to(root).as_posix(),
        caption=video.with_suffix(".txt").read_text(),
        sidecar_json=None,
        identity=FileIdentity.of(video),
    )


def plan(ledger: Ledger, video: Path, root: Path, account: str = "default") -> tuple[str, int]:
    """Plan one YouTube post of a real clip; (sha256, post id)."""
    sha, size = sha256_file(video)
    new, known = ledger.plan(sha, size, account, ["youtube"], drop_of(video, root))
    return sha, (new or known)[0].id


def publish(ledger: Ledger, post_id: int) -> None:
    """Walk a planned post to published, as the publisher would."""
    for src, dst in ((S.PLANNED, S.READY), (S.READY, S.UPLOADING), (S.UPLOADING, S.PUBLISHED)):
        assert ledger.transition(post_id, [src], dst) is not None


@contextlib.contextmanager
def other_filesystem(near: Path) -> Iterator[Path]:
    """A folder on another filesystem than ``near`` (tmpfs at /dev/shm), or the test skips."""
    if not SHM.is_dir() or os.stat(SHM).st_dev == os.stat(near).st_dev:
        pytest.skip("no second filesystem (/dev/shm) to move across")
    folder = SHM / f"atroposd-test-{uuid.uuid4().hex}"
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def listing(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` (hidden ones too) and its size."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def block_at(event: str, suffix: str) -> None:
    """Stop this process for good at the audited ``event`` on a path ending in ``suffix``,
    after saying so on stdout: the parent then kills it with SIGKILL, mid-move."""

    def hook(name: str, args: tuple[Any, ...]) -> None:
        if name == event and args and str(args[0]).endswith(suffix):
            print(json.dumps({"blocked": name, "path": str(args[0])}), flush=True)
            threading.Event().wait()

    sys.addaudithook(hook)


async def _steps(plan_: dict[str, Any]) -> None:
    root, archive = Path(plan_["root"]), Path(plan_["archive"])
    ledger = Ledger(connect(Path(plan_["state"]) / "ledger.sqlite3"), SystemClock())
    archiver = Archiver(ledger, archive, delete=False)
    sha, post_id = plan(ledger, Path(plan_["video"]), root)
    publish(ledger, post_id)
    for i, step in enumerate(plan_["steps"]):
        _prepare(step)
        with structlog.testing.capture_logs() as logs:
            archiver.maybe_clear(sha, "default", post_id)
            await archiver.drain()
        _report({"step": i, "logs": logs, "queue": listing(root)}, archive)


def _prepare(step: dict[str, Any]) -> None:
    if step["do"] == "fsize":  # a file-size limit: writes past it fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (step["bytes"], hard))
    elif step["do"] == "command":  # e.g. grow the tmpfs: the disk has room again
        subprocess.run(step["argv"], check=True)
    elif step["do"] == "block":
        block_at(step["event"], step["suffix"])


def _report(report: dict[str, Any], archive: Path) -> None:
    files = listing(archive) if archive.is_dir() else None
    print(json.dumps({**report, "files": files}, default=str), flush=True)


def run_child(plan_: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run the child to its end; its JSON lines."""
    out = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.archive_support", json.dumps(plan_)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


if __name__ == "__main__":
    asyncio.run(_steps(json.loads(sys.argv[1])))
