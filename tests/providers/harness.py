"""What the provider conformance suite drives: a binding per platform and a per-test harness.

A ``Binding`` is everything platform-specific the suite needs, as data: the registry key,
the emulator's fault step names behind the suite's generic steps, starting credentials,
the secrets the provider is built with, and the platform's own rejection body. The
``Harness`` builds the provider through the registry against a real in-process emulator
(``tests.support.Emulator``) with a real ``httpx.AsyncClient``, and gives the tests
platform-neutral verbs: upload, post through the daemon's own publisher (``pipeline.py``),
inject a fault, read the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from atroposd.clock import SystemClock
from atroposd.domain import Post, PostState
from atroposd.errors import ReauthRequired
from atroposd.providers import REGISTRY
from atroposd.providers.base import (
    Credentials,
    Progress,
    Provider,
    ProviderContext,
    RemoteRef,
    UploadRequest,
    UploadResult,
)
from tests.providers.pipeline import Pipeline
from tests.support import Emulator, make_clip, sha256

CHUNK = 256 * 1024
ACCOUNT = "alice"
GENERIC_STEPS = frozenset({"session", "media"})  # every binding must name these two


def default_media(path: Path) -> Path:
    """A real H.264/AAC MP4 of ~1.2 MB: five 256 KiB media requests."""
    return make_clip(path, seconds=2.0, seed=7, bitrate="4M")


def media_requests(size: int, chunk: int) -> int:
    """How many chunked media requests a file of ``size`` bytes takes."""
    return -(-size // chunk)


@dataclass(frozen=True)
class Commit:
    """The request after which the post exists: ``nth(size, chunk)`` picks it on ``step``."""

    step: str
    nth: Callable[[int, int], int] = lambda size, chunk: 1


@dataclass(frozen=True)
class Rejection:
    """The platform's own answer to bad metadata, and how the provider must report it."""

    body: object
    code: str
    message: str
    status: int = 400


@dataclass(frozen=True)
class Binding:
    """One platform joining the suite.

    ``steps`` maps the suite's generic steps to the emulator's fault step names: ``session``
    (opening the upload), ``media`` (a request carrying file bytes) and optionally ``auth``
    (token refresh), ``query`` (asking a session where it stands), ``poll`` (post status)
    and ``publish`` (the publish call of a platform with a publish step).
    ``registry_key`` builds the provider from another registry entry than ``name`` (the
    emulator platform); ``publish_deadline_s`` bounds how long a post may take to publish.
    """

    name: str
    steps: Mapping[str, str]
    commit: Commit
    credentials: Callable[[str], Credentials]
    rejection: Rejection
    secrets: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, str] = field(default_factory=dict)
    make_media: Callable[[Path], Path] = default_media
    chunk_size: int = CHUNK
    registry_key: str = ""
    publish_deadline_s: float = 15.0
    # A handle may be saved before the session opens (Snapchat: the encryption key goes in
    # it before the create call); the "nothing sent yet" check then waits for the next one.
    ref_before_session: bool = False

    def __post_init__(self) -> None:
        missing = GENERIC_STEPS - set(self.steps)
        if missing:
            raise ValueError(f"binding {self.name!r} lacks steps {sorted(missing)}")
        if self.key not in REGISTRY:
            raise ValueError(f"binding {self.name!r} has no registry entry {self.key!r}")

    @property
    def key(self) -> str:
        """The registry entry the provider is built from."""
        return self.registry_key or self.name


class MemoryCredentials:
    """An in-memory ``CredentialStore`` that remembers every save."""

    def __init__(self, platform: str, initial: Mapping[str, Credentials]) -> None:
        self._platform = platform
        self._creds = dict(initial)
        self.saved: list[Credentials] = []

    def load(self, account: str, platform: str) -> Credentials:
        assert platform == self._platform, f"provider asked for {platform!r} tokens"
        if account not in self._creds:
            raise ReauthRequired(f"no {platform} login for {account!r}", platform=platform)
        return self._creds[account]

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        assert platform == self._platform, f"provider saved {platform!r} tokens"
        self._creds[account] = creds
        self.saved.append(creds)


@dataclass
class Harness:
    """One test's provider, emulator and bookkeeping."""

    binding: Binding
    provider: Provider
    creds: MemoryCredentials
    emulator: Emulator
    ctl: httpx.AsyncClient
    request: UploadRequest
    sent: list[httpx.Request]  # every request the provider's client sent
    pipeline: Pipeline
    refs: list[RemoteRef] = field(default_factory=list)
    on_save_ref: Callable[[RemoteRef], Awaitable[None]] | None = None

    async def save_ref(self, ref: RemoteRef) -> None:
        """The ``save_ref`` handed to ``upload``: records, then runs the test's check."""
        self.refs.append(ref)
        if self.on_save_ref is not None:
            await self.on_save_ref(ref)

    async def upload(
        self, resume: RemoteRef | None = None, progress: Progress | None = None
    ) -> UploadResult:
        """``provider.upload`` of the test media."""
        return await self.provider.upload(self.request, resume, self.save_ref, progress)

    async def post(self, ref: RemoteRef | None = None) -> Post:
        """Plan the test media as a ready post (resuming ``ref`` when given) and let the
        daemon's publisher take it as far as it goes."""
        planned = self.pipeline.plan(self.request, self.provider.name, ref)
        return await self.pipeline.drive(planned.id, self.binding.publish_deadline_s)

    async def follow(self, result: UploadResult) -> Post:
        """Hand an upload the provider made to the publisher; assert it gets published."""
        assert result.ref is not None, "upload() returned no ref to ask status() about"
        post = await self.post(result.ref)
        assert post.state is PostState.PUBLISHED, (post.state, post.last_error)
        return post

    async def fault(self, step: str, action: str, nth: int = 1, **extra: Any) -> None:
        """Install one emulator fault on a generic step (or ``commit``)."""
        if step == "commit":
            size, chunk = self.request.size, self.binding.chunk_size
            name, nth = self.binding.commit.step, self.binding.commit.nth(size, chunk)
        else:
            name = self.binding.steps[step]
        rule = {"platform": self.binding.name, "step": name, "nth": nth, "action": action}
        (await self.ctl.post("/_emulator/faults", json=[{**rule, **extra}])).raise_for_status()

    async def faults_left(self) -> list[dict[str, Any]]:
        """Installed fault rules that have not fired yet."""
        return list((await self.ctl.get("/_emulator/faults")).raise_for_status().json())

    async def control(self, path: str, **body: str) -> None:
        """POST a control endpoint (``expire_tokens``, ``revoke``, ``expire_uploads``)."""
        (await self.ctl.post(f"/_emulator/{path}", json=body)).raise_for_status()

    async def posts(self) -> list[dict[str, Any]]:
        """Published items of this platform."""
        resp = (await self.ctl.get("/_emulator/posts")).raise_for_status()
        return [p for p in resp.json() if p["platform"] == self.binding.name]

    async def uploads(self) -> list[dict[str, Any]]:
        """In-progress sessions of this platform."""
        resp = (await self.ctl.get("/_emulator/uploads")).raise_for_status()
        return [u for u in resp.json() if u["platform"] == self.binding.name]


Scenario = Callable[[Harness], Awaitable[None]]


def make_request(path: Path, title: str = "Conformance clip") -> UploadRequest:
    """The upload every scenario performs."""
    return UploadRequest(
        account=ACCOUNT,
        path=path,
        size=path.stat().st_size,
        sha256=sha256(path),
        title=title,
        description="Sent by the provider conformance suite #shorts",
    )


def context(
    binding: Binding, url: str, http: httpx.AsyncClient, creds: MemoryCredentials
) -> ProviderContext:
    """What the composition root would hand the provider's factory, sandboxed at ``url``."""
    return ProviderContext(
        http=http,
        credentials=creds,
        clock=SystemClock(),
        sandbox=True,
        sandbox_url=url,
        chunk_size=binding.chunk_size,
        secrets=binding.secrets,
        overrides=binding.overrides,
    )


def run(binding: Binding, emulator: Emulator, request: UploadRequest, scenario: Scenario) -> None:
    """Build the provider through the registry and run ``scenario`` on a fresh event loop."""

    async def main() -> None:
        sent: list[httpx.Request] = []

        async def record(req: httpx.Request) -> None:
            sent.append(req)

        creds = MemoryCredentials(binding.name, {ACCOUNT: binding.credentials(ACCOUNT)})
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=10.0, event_hooks={"request": [record]})
            )
            ctl = await stack.enter_async_context(
                httpx.AsyncClient(base_url=emulator.url, timeout=10.0)
            )
            provider = REGISTRY[binding.key](context(binding, emulator.url, http, creds))
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="conform-")))
            pipeline = Pipeline.build(provider, home, binding.publish_deadline_s)
            harness = Harness(binding, provider, creds, emulator, ctl, request, sent, pipeline)
            stack.callback(lambda: harness.pipeline.close())
            await scenario(harness)

    asyncio.run(main())
