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
same way, for the whole pair at once: a clip's video and caption keep one name. A retry of
the same clip lands on the same name, also when the video went ahead alone (found again by
the size and modification time the move kept).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from atroposd.domain import FileIdentity
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

    The files of one clip keep one name in the archive (``a.1.mp4`` beside ``a.1.txt``), also
    when a retry finds the video already there. Stops at the first failure, so the rest of the
    pair stays with the video.
    """
    done = Cleared()
    sources = [p for p in (drop.video_path, drop.caption_path, drop.sidecar_path) if p]
    present = [p for p in sources if p.exists()]
    n = 0 if delete else _pair_index(drop, archive_dir, present)
    for source in present:
        try:
            if delete:
                source.unlink()
                done.moved.append(source)
            else:
                done.moved.append(place(source, _at(drop, archive_dir, source, n)))
        except OSError as exc:
            done.failed, done.error = source, f"{type(exc).__name__}: {exc}"
            break
    return done


def place(source: Path, target: Path) -> Path:
    """Move ``source`` to ``target`` (which is free, or already holds the same bytes)."""
    if target.exists():
        if not same_bytes(source, target):  # taken meanwhile: never drop the user's file
            raise FileExistsError(errno.EEXIST, "another file is already there", str(target))
        source.unlink()  # an earlier attempt copied it and stopped before removing the source
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


def _nth(wanted: Path, n: int) -> Path:
    """``wanted`` itself for 0, else ``name.n.ext``."""
    return wanted if n == 0 else wanted.with_name(f"{wanted.stem}.{n}{wanted.suffix}")


def _at(drop: Drop, archive_dir: Path, source: Path, n: int) -> Path:
    """Where ``source`` goes in the archive under index ``n``."""
    return _nth(archive_dir / source.relative_to(drop.root), n)


def _fits(source: Path, target: Path) -> bool:
    """``target`` is free, or already holds ``source``'s bytes."""
    return not target.exists() or same_bytes(source, target)


def _where_video_went(drop: Drop, wanted: Path) -> int | None:
    """The index of an archived copy of the drop's video moved by an earlier attempt.

    A move keeps the size and modification time (a rename, or ``copystat``), which the post
    recorded when it was planned.
    """
    if drop.identity is None:
        return None
    for n in itertools.count():
        candidate = _nth(wanted, n)
        if not candidate.exists():
            return None
        there = FileIdentity.of(candidate)
        if (there.size, there.mtime_ns) == (drop.identity.size, drop.identity.mtime_ns):
            return n
    return None  # pragma: no cover - the loop ends at the first free name


def _pair_index(drop: Drop, archive_dir: Path, present: list[Path]) -> int:
    """The first ``n`` at which every file still to move fits (free or identical)."""
    if drop.video_path not in present:  # moved by an earlier attempt: follow it
        went = _where_video_went(drop, archive_dir / drop.video_path.relative_to(drop.root))
        if went is not None and all(_fits(p, _at(drop, archive_dir, p, went)) for p in present):
            return went
    for n in itertools.count():
        if all(_fits(p, _at(drop, archive_dir, p, n)) for p in present):
            return n
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
