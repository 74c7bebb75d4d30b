"""Moving a clip's files into the archive without ever leaving a partial file. Blocking: run
these in a worker thread.

Within one filesystem a file is renamed. Across filesystems it is copied to a hidden temp
name beside its target (``.<name>.part``, which the watcher ignores), fsynced, renamed into
place, the folder fsynced, and only then is the source removed. So a crash or a full disk
leaves at most the temp file, which the next attempt overwrites: never a truncated file under
the final name, never a new file per attempt.

The target is ``archive/<path in the watched folder>``. When a file is already there, an
identical one means an earlier attempt got that far (the source is then just removed) and
a different one is another clip's, so ``name.1.ext``, ``name.2.ext``... are looked at the
same way. A retry of the same clip therefore always lands on the same name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from atroposd.store.ledger import Drop

PIECE = 1024 * 1024


@dataclass
class Cleared:
    """What clearing a drop did: where its files went, and the file that stopped it."""

    moved: list[Path] = field(default_factory=list)
    failed: Path | None = None
    error: str | None = None


def clear_files(drop: Drop, archive_dir: Path, delete: bool) -> Cleared:
    """Archive (or delete) the drop's files that are still there, video first.

    Stops at the first failure, so the rest of the pair stays with the video.
    """
    done = Cleared()
    for source in (drop.video_path, drop.caption_path, drop.sidecar_path):
        if source is None or not source.exists():
            continue
        try:
            if delete:
                source.unlink()
                done.moved.append(source)
            else:
                done.moved.append(move(source, archive_dir / source.relative_to(drop.root)))
        except OSError as exc:
            done.failed, done.error = source, f"{type(exc).__name__}: {exc}"
            break
    return done


def move(source: Path, wanted: Path) -> Path:
    """Move ``source`` to ``wanted`` (or the first free or identical ``name.N``); the target."""
    target, there = _target(source, wanted)
    if there:  # an earlier attempt copied it and stopped before removing the source
        source.unlink()
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)  # same filesystem: atomic, nothing copied
        return target
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    copy_into_place(source, target)
    source.unlink()
    return target


def _candidates(wanted: Path) -> Iterator[Path]:
    yield wanted
    n = 0
    while True:
        n += 1
        yield wanted.with_name(f"{wanted.stem}.{n}{wanted.suffix}")


def _target(source: Path, wanted: Path) -> tuple[Path, bool]:
    """The first candidate that is free (False) or already holds these bytes (True)."""
    for candidate in _candidates(wanted):
        if not candidate.exists():
            return candidate, False
        if same_bytes(source, candidate):
            return candidate, True
    raise AssertionError("unreachable")  # pragma: no cover - the candidates never end


def part_name(target: Path) -> Path:
    """The temp file a copy to ``target`` is written to."""
    return target.with_name(f".{target.name}.part")


def copy_into_place(source: Path, target: Path) -> None:
    """Copy to the temp name, fsync, rename to ``target``, fsync the folder; no leftovers."""
    part = part_name(target)
    try:
        shutil.copyfile(source, part)  # sendfile on Linux; overwrites an earlier attempt's
        shutil.copystat(source, part)  # the clip keeps its times, as a rename would
        fd = os.open(part, os.O_WRONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(part, target)
    except BaseException:
        with contextlib.suppress(OSError):  # e.g. the disk went read-only: say the first error
            part.unlink(missing_ok=True)
        raise
    sync_folder(target.parent)


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def same_bytes(a: Path, b: Path) -> bool:
    """True when two files hold the same bytes (sizes first, then the contents)."""
    if a.stat().st_size != b.stat().st_size or not b.is_file():
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            piece = fa.read(PIECE)
            if piece != fb.read(PIECE):
                return False
            if not piece:
                return True
