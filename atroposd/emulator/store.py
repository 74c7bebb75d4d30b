"""In-memory state shared by every emulated platform: tokens, upload sessions, posts.

Media bytes live on disk (``Blob``): one file per upload session under the storage dir,
hashed with SHA-256 while it is written, so nothing big is ever held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

Clock = Callable[[], float]
BATCH_BYTES = 4 << 20  # bytes handed to the writer thread at a time


class Blob:
    """The bytes of one upload on disk plus a running SHA-256 of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0  # bytes written and hashed
        self.arrived = 0  # bytes read off the network, some maybe not written yet
        self._hash = hashlib.sha256()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")

    def hexdigest(self) -> str:
        """SHA-256 of the bytes stored so far."""
        return self._hash.hexdigest()

    async def append(self, pieces: AsyncIterator[bytes], skip: int = 0, align: int = 1) -> int:
        """Append a stream, dropping its first ``skip`` bytes; returns the bytes appended.

        Writing and hashing run in a worker thread, one batch at a time, while the event
        loop reads the next batch from the socket. If the stream breaks off, the largest
        ``align``-multiple prefix of what arrived is kept (like Google's resumable servers)
        and the error is re-raised.
        """
        start = self.size
        snapshot = self._hash.copy()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        pending: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        try:
            async for piece in pieces:
                if skip:
                    cut = min(skip, len(piece))
                    piece, skip = piece[cut:], skip - cut
                batch.append(piece)
                self.arrived += len(piece)
                if self.arrived - self.size >= BATCH_BYTES:
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(self._write, fd, batch))
                    batch = []
            if pending is not None:
                await pending
            pending = None
            await asyncio.to_thread(self._write, fd, batch)
        except BaseException:
            if pending is not None:
                await asyncio.wait([pending])  # let the in-flight write land before truncating
            with contextlib.suppress(OSError):
                await asyncio.to_thread(self._write, fd, batch)
            await self._keep_prefix(start, snapshot, (self.size - start) // align * align)
            raise
        finally:
            os.close(fd)
        self.arrived = self.size
        return self.size - start

    def _write(self, fd: int, batch: list[bytes]) -> None:
        for piece in batch:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
            self._hash.update(piece)
            self.size += len(piece)

    async def _keep_prefix(self, start: int, snapshot: hashlib._Hash, kept: int) -> None:
        def rehash() -> None:
            os.truncate(self.path, start + kept)
            with self.path.open("rb") as src:
                src.seek(start)
                left = kept
                while left:
                    data = src.read(min(left, 1 << 20))
                    snapshot.update(data)
                    left -= len(data)

        await asyncio.to_thread(rehash)
        self._hash = snapshot
        self.size = self.arrived = start + kept

    def delete(self) -> None:
        """Remove the file (missing is fine)."""
        self.path.unlink(missing_ok=True)


@dataclass
class Upload:
    """One in-progress upload session, whatever the platform."""

    platform: str
    id: str
    account: str
    title: str
    total: int | None
    blob: Blob
    created: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def to_json(self) -> dict[str, object]:
        """The control API's view."""
        return {
            "platform": self.platform,
            "id": self.id,
            "account": self.account,
            "title": self.title,
            "bytes_received": self.blob.arrived,
            "total": self.total,
        }


@dataclass(frozen=True)
class PostRecord:
    """One published item, as the control API lists it."""

    platform: str
    id: str
    account: str
    title: str
    caption: str
    bytes: int
    sha256: str
    created_at: datetime

    def to_json(self) -> dict[str, object]:
        """The control API's view."""
        return {
            "platform": self.platform,
            "id": self.id,
            "account": self.account,
            "title": self.title,
            "caption": self.caption,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass
class _Access:
    platform: str
    account: str
    expires_at: float


class TokenBook:
    """Access tokens the emulator issued, and which accounts had their grant revoked."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._access: dict[str, _Access] = {}
        self._revoked: set[tuple[str, str]] = set()
        self._fresh_refresh: set[tuple[str, str, str]] = set()  # issued after a revocation
        self.issued: list[tuple[str, str]] = []  # (platform, token), every one ever issued
        self.owners: dict[str, tuple[str, str]] = {}  # token -> (platform, account), kept
        self.refreshes: list[str] = []  # every refresh token issued
        self.lifetimes: dict[str, int] = {}  # platform (or "*") -> access token seconds (tests)

    def lifetime(self, platform: str, default: float) -> int:
        """Seconds an access token of ``platform`` lives: a test's override, else ``default``."""
        return int(self.lifetimes.get(platform, self.lifetimes.get("*", default)))

    def issue_access(self, platform: str, account: str, ttl: float) -> str:
        """A new random access token bound to ``account``."""
        ttl = self.lifetime(platform, ttl)
        token = secrets.token_urlsafe(32)
        self.owners[token] = (platform, account)
        self._access[token] = _Access(platform, account, self._clock() + ttl)
        self.issued.append((platform, token))
        return token

    def account_for(self, platform: str, token: str) -> str | None:
        """The account a still-valid access token belongs to, else None."""
        entry = self._access.get(token)
        if entry is None or entry.platform != platform or entry.expires_at <= self._clock():
            return None
        return entry.account  # revoke() deleted the revoked accounts' tokens

    def expire_all(self, platform: str) -> int:
        """Make every access token of ``platform`` expired; returns how many."""
        now = self._clock()
        hit = [a for a in self._access.values() if a.platform == platform]
        for entry in hit:
            entry.expires_at = min(entry.expires_at, now)
        return len(hit)

    def revoke(self, platform: str, account: str) -> None:
        """The account's grant is gone: its refresh and access tokens stop working."""
        self._revoked.add((platform, account))
        self._fresh_refresh = {t for t in self._fresh_refresh if t[:2] != (platform, account)}
        for token, entry in list(self._access.items()):
            if entry.platform == platform and entry.account == account:
                del self._access[token]

    def issue_refresh(self, platform: str, account: str, prefix: str) -> str:
        """A refresh token from a new consent; valid even if the account was revoked before."""
        token = f"{prefix}{secrets.token_urlsafe(16)}"
        self.refreshes.append(token)  # for leak searches (``GET /_emulator/issued_tokens``)
        self._fresh_refresh.add((platform, account, token))
        return token

    def refresh_usable(self, platform: str, account: str, token: str) -> bool:
        """False when the account was revoked and ``token`` predates a new consent."""
        if (platform, account) not in self._revoked:
            return True
        return (platform, account, token) in self._fresh_refresh


class Store:
    """Everything the emulator remembers; ``reset`` forgets it all."""

    def __init__(self, storage_dir: Path, clock: Clock = time.monotonic) -> None:
        self.storage_dir = storage_dir
        self.clock = clock
        self.tokens = TokenBook(clock)
        self.uploads: dict[tuple[str, str], Upload] = {}
        self.posts: list[PostRecord] = []
        self._blobs: list[Blob] = []  # every file we wrote, so reset deletes only those

    def new_upload(self, platform: str, account: str, title: str, total: int | None) -> Upload:
        """Open a session with an empty blob; the id is random and URL-safe."""
        upload_id = secrets.token_urlsafe(24)
        blob = Blob(self.storage_dir / platform / f"{upload_id}.part")
        self._blobs.append(blob)
        upload = Upload(platform, upload_id, account, title, total, blob, self.clock())
        self.uploads[(platform, upload_id)] = upload
        return upload

    def finish_upload(self, upload: Upload, post_id: str, caption: str) -> PostRecord:
        """Turn a complete session into a published post."""
        self.uploads.pop((upload.platform, upload.id), None)
        record = PostRecord(
            platform=upload.platform,
            id=post_id,
            account=upload.account,
            title=upload.title,
            caption=caption,
            bytes=upload.blob.size,
            sha256=upload.blob.hexdigest(),
            created_at=datetime.now(UTC),
        )
        self.posts.append(record)
        return record

    def drop_uploads(self, platform: str | None = None) -> int:
        """Forget in-progress sessions (all, or one platform's); their URIs then 404."""
        gone = [k for k in self.uploads if platform is None or k[0] == platform]
        for key in gone:
            self.uploads.pop(key).blob.delete()
        return len(gone)

    def reset(self) -> None:
        """Forget posts, sessions, tokens and revocations; delete stored media."""
        self.drop_uploads()
        self.posts.clear()
        self.tokens = TokenBook(self.clock)
        for blob in self._blobs:
            blob.delete()
        self._blobs.clear()
