"""A pipeline rig for unit tests: the daemon's own ``Publisher`` on a real SQLite ledger, the
real YouTube and two-step providers, and the real emulator served on the test's own event loop
over loopback, all on a ``FakeClock``.

The emulator here says a video is processed as soon as its last byte is stored
(``processing_seconds=0``), and the publisher's waits move the fake clock instead of sleeping,
so a post goes from ``ready`` to ``published`` in milliseconds. Waiting on the platform is
scripted with the emulator's fault rules, never with real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import tests.providers.twostep  # noqa: F401 - registers the test-only two-step provider
from atroposd.bus import Bus
from atroposd.domain import FileIdentity, Post, PostState
from atroposd.emulator import EmulatorServer
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.request import build_request
from atroposd.pipeline.retry import RetryPolicy
from atroposd.providers import REGISTRY
from atroposd.providers.base import Credentials, Provider, ProviderContext, UploadRequest
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.providers.twostep.emulator import TwoStep
from tests.support import make_clip
from tests.unit.support import FakeClock

S = PostState
ACCOUNT = "alice"
CHUNK = 256 * 1024
PLATFORMS = ("youtube", "twostep")
SECRETS = {"YOUTUBE_CLIENT_ID": "unit-client-id", "YOUTUBE_CLIENT_SECRET": "unit-secret"}
SETTLED = frozenset({S.PUBLISHED, S.FAILED, S.NEEDS_ATTENTION, S.CANCELLED})


def real_clip(folder: Path, seed: int = 5) -> Path:
    """A real MP4 of ~320 KB: two 256 KiB chunks, so an upload can be cut in the middle."""
    clip = make_clip(folder / f"clip{seed}.mp4", seconds=2.0, seed=seed, bitrate="1M")
    assert CHUNK < clip.stat().st_size < 2 * CHUNK
    return clip


def google_error(code: int, reason: str, message: str, domain: str = "global") -> dict[str, Any]:
    """Google's JSON error envelope (as ``tests.support.google_error``)."""
    errors = [{"reason": reason, "domain": domain, "message": message}]
    return {"error": {"code": code, "message": message, "errors": errors}}


class Tokens:
    """An in-memory credential store holding a sandbox login per (account, platform)."""

    def __init__(self) -> None:
        self._creds: dict[tuple[str, str], Credentials] = {}

    def load(self, account: str, platform: str) -> Credentials:
        key = (account, platform)
        if key not in self._creds:
            self._creds[key] = Credentials("", refresh_token=f"sandbox:{account}:unit")
        return self._creds[key]

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        self._creds[(account, platform)] = creds


@dataclass
class Desk:
    """A real ledger file on a fake clock, and a queue folder of real clip pairs."""

    home: Path
    clip: Path
    clock: FakeClock
    ledger: Ledger

    @property
    def queue(self) -> Path:
        return self.home / "queue"

    @property
    def archive(self) -> Path:
        return self.home / "posted"

    def drop(
        self, name: str, caption: str = "A clip\n\n#shorts", sidecar: str | None = None
    ) -> Drop:
        """Put a copy of the clip, its caption (and its sidecar's JSON) in the queue folder."""
        self.queue.mkdir(parents=True, exist_ok=True)
        video = self.queue / f"{name}.mp4"
        shutil.copyfile(self.clip, video)
        video.with_suffix(".txt").write_text(caption, encoding="utf-8")
        if sidecar is not None:
            video.with_suffix(".json").write_text(sidecar, encoding="utf-8")
        return Drop(
            video_path=video,
            caption_path=video.with_suffix(".txt"),
            sidecar_path=video.with_suffix(".json") if sidecar is not None else None,
            root=self.queue,
            clip_rel=video.name,
            caption=caption,
            sidecar_json=sidecar,
            identity=FileIdentity.of(video),
        )

    def plan(
        self, name: str, platforms: tuple[str, ...] = PLATFORMS, sidecar: str | None = None
    ) -> list[Post]:
        """Ready posts of a new drop, one per platform (what ``Intake.admit`` leaves)."""
        drop = self.drop(name, sidecar=sidecar)
        size = drop.video_path.stat().st_size
        # The ledger's key of the clip, one per name (the platforms hash the bytes they get).
        sha = hashlib.sha256(name.encode()).hexdigest()
        new, _ = self.ledger.plan(sha, size, ACCOUNT, platforms, drop)
        ready = [self.ledger.transition(p.id, [S.PLANNED], S.READY) for p in new]
        assert all(ready) and len(ready) == len(platforms)
        return [p for p in ready if p is not None]

    def put(self, post_id: int, *states: PostState, **fields: Any) -> Post:
        """Walk a post through ``states`` in the ledger (as a dead process left it)."""
        if fields:
            self.ledger.set_fields(post_id, **fields)
        for state in states:
            post = self.get(post_id)
            assert self.ledger.transition(post_id, [post.state], state) is not None
        return self.get(post_id)

    def get(self, post_id: int) -> Post:
        post = self.ledger.get(post_id)
        assert post is not None
        return post

    def states(self, post_id: int) -> list[str]:
        """The states a post went through, from its history."""
        return [to for _, to, _ in self.ledger.history(post_id)]


@contextlib.contextmanager
def desk(home: Path, clip: Path) -> Iterator[Desk]:
    """A ledger file under ``home`` on a fresh ``FakeClock``."""
    clock = FakeClock()
    conn = connect(home / "state" / "ledger.sqlite3")
    try:
        yield Desk(home, clip, clock, Ledger(conn, clock))
    finally:
        conn.close()


@dataclass
class Rig(Desk):
    """One test's ledger, publisher, providers and emulator."""

    bus: Bus
    archiver: Archiver
    providers: dict[str, Provider]
    ctl: httpx.AsyncClient
    sent: list[httpx.Request]
    disabled: set[str] = field(default_factory=set)
    publisher: Publisher = field(init=False)

    def new_publisher(self, policy: RetryPolicy | None = None) -> Publisher:
        """A publisher as a new daemon process builds it (after a crash), same ledger."""
        self.publisher = _publisher(self, policy or RetryPolicy())
        return self.publisher

    def request(self, post_id: int) -> UploadRequest:
        """The upload request the publisher builds for this post."""
        post = self.get(post_id)
        drop = self.ledger.drop_of(post_id)
        size = drop.video_path.stat().st_size
        return build_request(post, drop, size, self.providers[post.platform].capabilities, {})

    def calls(self, method: str, contains: str = "") -> list[httpx.Request]:
        """Requests the providers sent with ``method`` whose URL contains ``contains``."""
        return [r for r in self.sent if r.method == method and contains in str(r.url)]

    async def fault(self, platform: str, step: str, action: str = "status", **rule: Any) -> None:
        """Install one emulator fault rule (docs/emulator.md)."""
        body = {"platform": platform, "step": step, "action": action, **rule}
        (await self.ctl.post("/_emulator/faults", json=[body])).raise_for_status()

    async def posts(self, platform: str | None = None) -> list[dict[str, Any]]:
        """What the platforms published."""
        got = (await self.ctl.get("/_emulator/posts")).raise_for_status().json()
        return [p for p in got if platform is None or p["platform"] == platform]

    async def settle(self, post_id: int, rounds: int = 50) -> Post:
        """Work the post as the daemon would until it settles; a due retry is made due now."""
        for _ in range(rounds):
            await self.publisher.work(post_id)
            post = self.get(post_id)
            if post.state in SETTLED:
                return post
            if post.retry_at is not None and post.retry_at > self.clock.now():
                self.clock.advance((post.retry_at - self.clock.now()).total_seconds())
        raise AssertionError(f"post {post_id} did not settle: {self.ledger.history(post_id)}")


def _publisher(rig: Rig, policy: RetryPolicy) -> Publisher:
    clock = rig.clock

    async def sleep(seconds: float) -> None:  # a poll's wait moves the fake clock, nothing else
        clock.advance(seconds)
        await asyncio.sleep(0)

    return Publisher(
        rig.ledger,
        rig.providers,
        rig.bus,
        clock,
        policy,
        rig.archiver,
        lambda account, platform: {},
        lambda account, platform: platform not in rig.disabled,
        polling=Polling(),
        sleep=sleep,
    )


@contextlib.asynccontextmanager
async def rig(home: Path, clip: Path, policy: RetryPolicy | None = None) -> AsyncIterator[Rig]:
    """Start the emulator on this loop and wire the publisher as ``app.py`` does."""
    server = EmulatorServer(
        host="127.0.0.1",
        port=0,
        storage_dir=home / "emulator",
        extra_platforms=[lambda ctx: TwoStep(ctx, processing_seconds=0.0)],
        processing_seconds=0.0,
    )
    await server.start()
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    try:
        with desk(home, clip) as d:
            async with (
                httpx.AsyncClient(timeout=10.0, event_hooks={"request": [record]}) as http,
                httpx.AsyncClient(base_url=server.base_url, timeout=10.0) as ctl,
            ):
                context = ProviderContext(
                    http, Tokens(), d.clock, True, server.base_url, CHUNK, SECRETS, {}
                )
                providers = {name: REGISTRY[name](context) for name in PLATFORMS}
                archiver = Archiver(d.ledger, d.archive, delete=False)
                the_rig = Rig(home, clip, d.clock, d.ledger, Bus(), archiver, providers, ctl, sent)
                the_rig.new_publisher(policy)
                try:
                    yield the_rig
                finally:
                    await the_rig.publisher.drain()
                    await archiver.drain()
    finally:
        await server.stop()


Scenario = Callable[[Rig], Awaitable[None]]
Run = Callable[[Scenario], None]


def runner(tmp_path: Path, clip: Path) -> Run:
    """Run a scenario against a fresh rig on its own event loop (the tests' ``run`` fixture)."""

    def go(scenario: Scenario) -> None:
        async def main() -> None:
            async with rig(tmp_path, clip) as r:
                await scenario(r)

        asyncio.run(main())

    return go
