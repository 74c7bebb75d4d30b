"""The file identity, and ``file_slice`` never handing on bytes of a file rewritten in place.

The rewrite is made to land exactly between ``file_slice``'s last look at the file and the
read of the last piece: a profile hook (``sys.setprofile``) sees the ``os.pread`` call about
to start and rewrites the file right then, as a user's editor could. Nothing of ours is
replaced; the hook only picks the moment.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.domain import FileIdentity
from atroposd.errors import SourceChanged
from atroposd.providers import REGISTRY
from atroposd.providers._http import PIECE, file_slice
from atroposd.providers.base import Credentials, ProviderContext, RemoteRef, UploadRequest
from tests.support import Emulator, make_clip, sha256

PACKAGE = Path(__file__).resolve().parents[2] / "atroposd"
OLD = 1_000_000_000_000_000_000  # an mtime long ago: any write afterwards changes it


def test_identity_of_a_path_is_size_mtime_and_inode(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"x" * 10)
    st = path.stat()
    assert FileIdentity.of(path) == FileIdentity(10, st.st_mtime_ns, st.st_ino)
    assert FileIdentity.of(path) == FileIdentity.from_stat(os.stat(path))
    path.write_bytes(b"y" * 10)
    os.utime(path, ns=(OLD, OLD))
    assert FileIdentity.of(path) != FileIdentity(10, st.st_mtime_ns, st.st_ino)


def test_identity_is_built_in_one_place() -> None:
    """No module but domain.py (and the watcher's wider FileState) reads a file's mtime."""
    readers = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if re.search(r"\.st_mtime(_ns)?\b", p.read_text(encoding="utf-8"))
    )
    assert readers == ["domain.py", "watch/scan.py"]


@contextmanager
def rewrite_before_last_read(path: Path, end: int) -> Iterator[list[int]]:
    """Rewrite ``path`` in place (same size) just before ``file_slice`` reads its last piece."""
    done: list[int] = []

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event != "c_call" or arg is not os.pread or frame.f_code.co_name != "file_slice":
            return
        if done or frame.f_locals["position"] + PIECE < end:
            return
        with path.open("r+b") as handle:  # same size, new bytes, same inode
            handle.write(b"\0" * 4096)
        done.append(frame.f_locals["position"])

    sys.setprofile(hook)
    try:
        yield done
    finally:
        sys.setprofile(None)


def aged_clip(path: Path) -> Path:
    """A real MP4 of more than one 1 MiB piece, its mtime set far in the past."""
    make_clip(path, seconds=2.0, seed=5, bitrate="6M")
    assert path.stat().st_size > PIECE
    os.utime(path, ns=(OLD, OLD))
    return path


def test_rewrite_during_the_last_read_is_never_handed_on(tmp_path: Path) -> None:
    video = aged_clip(tmp_path / "v.mp4")
    size = video.stat().st_size

    async def read_all() -> list[bytes]:
        return [p async for p in file_slice(video, 0, size, FileIdentity.of(video))]

    with rewrite_before_last_read(video, size) as done, pytest.raises(SourceChanged):
        asyncio.run(read_all())
    assert done, "the rewrite never happened"


def test_upload_rewritten_in_place_during_its_last_piece_is_rejected(
    tmp_path: Path, emulator: Emulator
) -> None:
    """Through the real YouTube provider to the emulator: no post of a mixed file."""
    video = aged_clip(tmp_path / "v.mp4")
    size = video.stat().st_size
    request = UploadRequest(
        account="alice",
        path=video,
        size=size,
        sha256=sha256(video),
        title="Rewritten while uploading",
        description="#shorts",
        identity=FileIdentity.of(video),
    )
    refs: list[RemoteRef] = []

    async def save(ref: RemoteRef) -> None:
        refs.append(ref)

    async def upload() -> None:
        async with httpx.AsyncClient(timeout=10.0) as http:
            ctx = ProviderContext(
                http=http,
                credentials=OneLogin(),
                clock=SystemClock(),
                sandbox=True,
                sandbox_url=emulator.url,
                chunk_size=8 * 1024 * 1024,  # one request carries the whole file
                secrets={"YOUTUBE_CLIENT_ID": "id", "YOUTUBE_CLIENT_SECRET": "secret"},
                overrides={},
            )
            await REGISTRY["youtube"](ctx).upload(request, None, save)

    with rewrite_before_last_read(video, size) as done, pytest.raises(SourceChanged):
        asyncio.run(upload())
    assert done, "the rewrite never happened"
    assert refs, "the upload session was never opened"
    assert emulator.posts() == []


class OneLogin:
    """A sandbox login for one account (the emulator accepts ``sandbox:`` refresh tokens)."""

    def __init__(self) -> None:
        self._creds = Credentials("", refresh_token="sandbox:alice:slice")

    def load(self, account: str, platform: str) -> Credentials:
        return self._creds

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        self._creds = creds
