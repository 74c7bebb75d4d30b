"""``POST /api/jobs``: a path from a client becomes clips in the ledger, through the watcher's
own intake, or a 400 before anything under it is read.

The path is judged by its spelling first (absolute, no NUL byte, no ``..``, under
``UPLOAD_FOLDER`` or ``OUT_ROOT``, no hidden component), then by where its symlinks lead
(``realpath``: only link targets are looked up, no file is opened). Only then are the files
looked at: a video (``.mp4``/``.mov``/``.m4v``) with its ``<stem>.txt`` caption, or every such
pair under a project folder, each a complete MP4 (the watcher's box walk) whose real path is
inside the watched folders too. The pairs go to ``Intake.admit`` and ``Publisher.kick`` exactly
as the watcher's pairs go (``App.admit``).
"""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import structlog

from atroposd.app import App
from atroposd.bus import PostChanged
from atroposd.domain import CAPTION_SUFFIX, SIDECAR_SUFFIX, VIDEO_SUFFIXES, ClipFiles, PostState
from atroposd.errors import InputError
from atroposd.watch.pairing import is_ignored_name
from atroposd.watch.roots import Location, Roots
from atroposd.watch.watcher import check_video

log = structlog.get_logger("atroposd")
MAX_CLIPS = 500  # one request plans at most this many clips (a project has a few dozen)
MAX_DEPTH = 6  # folders below a project folder that are searched for clips


class BadRequest(Exception):
    """The request is refused (400) with this message; nothing was planned."""


class Conflict(Exception):
    """The request cannot be done now (409), e.g. a video still being written."""


@dataclass(frozen=True)
class Planned:
    job_id: int
    clip: str
    new: bool


def roots_of(app: App) -> Roots:
    s = app.settings
    return Roots(
        upload_folder=s.upload_folder,
        out_root=s.out_root,
        default_account=app.config.default_account,
    )


def checked_path(raw: str, roots: Roots) -> Path:
    """The requested path once its spelling and its symlinks keep it inside the watched
    folders; ``BadRequest`` otherwise (no file is opened to decide)."""
    if "\x00" in raw:
        raise BadRequest("path: contains a NUL byte")
    path = Path(raw)
    if not path.is_absolute():
        raise BadRequest("path: give an absolute path inside UPLOAD_FOLDER or OUT_ROOT")
    if ".." in path.parts:
        raise BadRequest("path: '..' is not allowed")
    root = roots.root_of(path)
    if root is None:
        raise BadRequest("path: outside the watched folders (UPLOAD_FOLDER, OUT_ROOT)")
    if any(p.startswith(".") for p in path.relative_to(root.path).parts):
        raise BadRequest("path: hidden files and folders are not watched")
    if roots.outside(Path(os.path.realpath(path))):
        raise BadRequest("path: a symlink in it leads outside the watched folders")
    return path


def _regular(path: Path) -> bool:
    """True for a regular file (after symlinks); a FIFO, socket or device is not one."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _pair(video: Path, roots: Roots) -> ClipFiles:
    """The ``ClipFiles`` of one video, or ``BadRequest``/``Conflict`` saying what is wrong."""
    if roots.outside(Path(os.path.realpath(video))):
        raise BadRequest(f"{video}: a symlink that leads outside the watched folders")
    if not _regular(video):  # a FIFO would block the box walk's open() for ever
        raise BadRequest(f"{video}: not a regular file")
    caption = video.with_suffix(CAPTION_SUFFIX)
    if roots.outside(Path(os.path.realpath(caption))) or not caption.is_file():
        raise BadRequest(f"{video}: no caption file {caption.name} beside it")
    sidecar = video.with_suffix(SIDECAR_SUFFIX)
    if roots.outside(Path(os.path.realpath(sidecar))):
        raise BadRequest(f"{sidecar}: a symlink that leads outside the watched folders")
    where = roots.locate(video)
    if not isinstance(where, Location):
        reason = where.reason if where is not None else "not in a watched folder"
        raise BadRequest(f"{video}: {reason}")
    problem = check_video(video).problem
    if problem is not None:
        raise Conflict(f"{video}: not a complete video yet ({problem}); try again when it is")
    return ClipFiles(
        video, caption, sidecar if sidecar.is_file() else None, where.root, where.account
    )


def find_pairs(path: Path, roots: Roots) -> list[ClipFiles]:
    """The clip pairs a request names: one video, or every video under a folder."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise BadRequest(f"{path}: no such file or folder") from None
    except OSError as exc:  # a name too long, a loop of links, a folder we may not enter
        raise BadRequest(f"{path}: {exc.strerror or 'cannot be looked at'}") from None
    if stat.S_ISREG(mode):
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise BadRequest(f"{path}: not a video ({', '.join(sorted(VIDEO_SUFFIXES))})")
        return [_pair(path, roots)]
    if not stat.S_ISDIR(mode):
        raise BadRequest(f"{path}: not a regular file or a folder")
    videos: list[Path] = []
    base = len(path.parts)
    for folder, dirs, files in os.walk(path):  # symlinked folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if len(Path(folder).parts) - base >= MAX_DEPTH:
            dirs[:] = []
        for name in sorted(files):
            here = Path(folder) / name
            if name.startswith(".") or is_ignored_name(name):
                continue
            if here.suffix.lower() in VIDEO_SUFFIXES and here.with_suffix(CAPTION_SUFFIX).exists():
                videos.append(here)
        if len(videos) > MAX_CLIPS:
            raise BadRequest(f"{path}: more than {MAX_CLIPS} clips; name a smaller folder")
    if not videos:
        raise BadRequest(f"{path}: no video with its caption (<stem>.txt) in this folder")
    return [_pair(v, roots) for v in videos]


def check_choices(
    app: App, pairs: list[ClipFiles], account: str | None, platforms: list[str] | None
) -> None:
    """The account the client named is the folder's; the platforms are enabled for it."""
    for files in pairs:
        if account is not None and account != files.account:
            raise BadRequest(
                f"account: {account!r}, but {files.rel} is in account {files.account!r}'s folder"
            )
        enabled = app.config.platforms_for(files.account)
        for name in platforms or []:
            if name not in enabled:
                raise BadRequest(
                    f"platforms: {name!r} is not enabled for account {files.account!r}"
                    f" (enabled: {', '.join(enabled) or 'none'})"
                )
    if platforms is not None and not platforms:
        raise BadRequest("platforms: give at least one, or leave it out for all enabled")


async def checked_pairs(
    app: App, raw: str, account: str | None, platforms: list[str] | None, when: datetime | None
) -> list[ClipFiles]:
    """The clips ``raw`` names, every check done (``BadRequest``/``Conflict``); none planned."""
    roots = roots_of(app)
    path = checked_path(raw, roots)
    if when is not None and when <= app.clock.now():
        raise BadRequest(f"publish_at: {when.isoformat()} is in the past")
    try:
        pairs = await asyncio.to_thread(find_pairs, path, roots)
    except OSError as exc:  # a folder or file under it we may not read
        raise BadRequest(f"{path}: cannot be read: {exc.strerror or exc}") from None
    check_choices(app, pairs, account, platforms)
    return pairs


async def admit(
    app: App, files: ClipFiles, platforms: list[str] | None, when: datetime | None
) -> Planned:
    sv = app.sv
    try:
        got = await sv.intake.admit(files)
    except InputError as exc:
        await app.problem(files.video, str(exc))
        raise BadRequest(str(exc)) from None
    except OSError as exc:
        raise Conflict(f"{files.video}: cannot read it: {exc.strerror or exc}") from None
    kick = list(got.rearmed)
    for post in got.new:  # not yet kicked: nothing has run between the plan and this
        if platforms is not None and post.platform not in platforms:
            done = sv.ledger.transition(
                post.id,
                [PostState.READY],
                PostState.CANCELLED,
                note="not among the platforms the API request named",
            )
            if done is not None:
                sv.bus.publish(PostChanged(done.id, done.state))
            continue
        if when is not None:
            sv.ledger.set_fields(post.id, publish_at=when)
        kick.append(post)
    if not got.new and not got.rearmed and got.known:
        sv.archiver.seen_again(got.drop, got.known)
    for post in kick:
        if app.wanted(post.account, post.platform):
            sv.publisher.kick(post.id)
    job_id = min(p.id for p in [*got.new, *got.known])
    log.info("api_enqueued", clip=files.rel, account=files.account, job_id=job_id)
    return Planned(job_id, files.rel, bool(got.new))
