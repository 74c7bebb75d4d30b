"""``/ws/jobs/{id}``: a job's history, then its live events, to one websocket client.

Messages are ``{type, timestamp, message?, step?, data?}`` as the desktop client reads them:

- ``state_changed`` for every row of the job's ``post_history`` (``step`` is the platform), and
  beside it ``PLAN`` (planned), ``OK`` (published) or ``ERR`` (failed, needs attention, or sent
  back to ``ready`` after an error) as the daemon's log lines say;
- ``step_progress`` (``step`` ``upload``) with ``data.progress`` (0..1), bytes, speed, ETA;
- ``pipeline_completed`` once no platform has anything left to do (then the socket closes,
  1000): the desktop client's end-of-run event, ``data.success`` false (with ``data.error``)
  unless every platform published.

``/ws/renders`` streams every render's progress (``step_progress``/``step_completed``, ``step``
``render``): a render runs before its short is a clip in the ledger, so before any job.

State changes are read from the ledger (a cursor on ``post_history``), rung by ``PostChanged``
and checked every second, so none is ever lost. Progress comes from the bus. Each socket has
an ``Outbox``: bounded, and when full it drops the oldest *progress* message, never a state
change. The daemon publishes to bounded bus queues and never waits for a socket; a client that
stops reading only stalls its own sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from atroposd.api.context import Context
from atroposd.api.queries import Change, Job, history, job, overall
from atroposd.bus import PostChanged, RenderProgressed, UploadProgressed

OUTBOX_PROGRESS = 64  # progress messages one socket may hold before the oldest is dropped
POLL_SECONDS = 1.0
Message = dict[str, Any]
ERR_FROM = {"uploading", "processing", "publishing"}
SETTLED = {"processing", "publishing", "published", "failed", "needs_attention", "cancelled"}


class Outbox:
    """One socket's waiting messages, in order; only progress messages are ever dropped."""

    def __init__(self, progress_limit: int = OUTBOX_PROGRESS) -> None:
        self._items: deque[tuple[bool, Message]] = deque()
        self._progress = 0
        self.limit = progress_limit
        self.dropped = 0
        self._ready = asyncio.Event()

    def put(self, message: Message, *, progress: bool = False) -> None:
        """Queue a message (never blocks)."""
        self._items.append((progress, message))
        if progress:
            self._progress += 1
            if self._progress > self.limit:
                for i, (is_progress, _) in enumerate(self._items):
                    if is_progress:
                        del self._items[i]
                        self._progress -= 1
                        self.dropped += 1
                        break
        self._ready.set()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self) -> Message:
        """The oldest waiting message."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        progress, message = self._items.popleft()
        self._progress -= progress
        return message


def change_messages(change: Change) -> list[Message]:
    """The messages of one state change: ``state_changed`` and PLAN/OK/ERR where it is one."""
    at = change.at.timestamp()
    data = {
        "post_id": change.post_id,
        "platform": change.platform,
        "from": change.from_state,
        "to": change.to_state,
        "note": change.note,
    }
    said = f"{change.platform}: {change.from_state or 'new'} -> {change.to_state}"
    out: list[Message] = [
        {
            "type": "state_changed",
            "timestamp": at,
            "step": change.platform,
            "message": said,
            "data": data,
        }
    ]
    kind = None
    if change.from_state is None and change.to_state == "planned":
        kind, said = "PLAN", f"{change.platform}: planned"
    elif change.to_state == "published":
        kind, said = "OK", f"{change.platform}: published"
    elif change.to_state in ("failed", "needs_attention") or (
        change.to_state == "ready" and change.from_state in ERR_FROM
    ):
        kind = "ERR"
        said = f"{change.platform}: {change.last_error or change.note or change.to_state}"
    if kind is not None:
        out.append(
            {"type": kind, "timestamp": at, "step": change.platform, "message": said, "data": data}
        )
    return out


class Rates:
    """Speed and ETA of each post's upload as this socket saw it."""

    def __init__(self) -> None:
        self._first: dict[int, tuple[float, int]] = {}

    def message(self, event: UploadProgressed, platform: str) -> Message:
        now = time.monotonic()
        t0, d0 = self._first.setdefault(event.post_id, (now, event.done))
        elapsed = now - t0
        speed = (event.done - d0) / elapsed if elapsed > 0 else 0.0
        left = max(0, event.total - event.done)
        fraction = min(1.0, event.done / event.total) if event.total > 0 else 0.0
        eta = 0.0 if left == 0 else (left / speed if speed > 0 else None)
        return {
            "type": "step_progress",
            "timestamp": time.time(),
            "step": "upload",
            "message": f"{platform}: {fraction:.0%} uploaded",
            "data": {
                "post_id": event.post_id,
                "platform": platform,
                "progress": fraction,
                "completed": event.done,
                "total": event.total,
                "bytes_per_second": round(speed, 1),
                "elapsed_seconds": round(elapsed, 3),
                "eta_seconds": round(eta, 3) if eta is not None else None,
            },
        }


def _snapshot(conn: sqlite3.Connection, job_id: int, after: int) -> tuple[Job | None, list[Change]]:
    return job(conn, job_id), history(conn, job_id, after)


class JobStream:
    """Feeds one socket's ``Outbox`` from the ledger and the bus."""

    def __init__(self, ctx: Context, job_id: int, outbox: Outbox) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.outbox = outbox
        self.cursor = 0
        self.platforms: dict[int, str] = {}
        self.changed = asyncio.Event()
        self.primed = asyncio.Event()  # set once the history was read the first time
        self.settled: set[int] = set()  # posts whose upload is over (for now)
        self.rates = Rates()

    async def catch_up(self) -> bool:
        """Queue the state changes since the cursor; True once the job is finished."""
        # The job first, its history after: every change that made the state read here is
        # in the history read next (one transaction writes both), so no OK comes after the end.
        found, changes = await self.ctx.reader.run(_snapshot, self.job_id, self.cursor)
        for change in changes:
            self.cursor = change.id
            self.platforms[change.post_id] = change.platform
            if change.to_state in SETTLED:  # later progress of it is stale: not sent after OK
                self.settled.add(change.post_id)
            else:
                self.settled.discard(change.post_id)
            for message in change_messages(change):
                self.outbox.put(message)
        self.primed.set()
        if found is None:
            return True
        state = overall(found.states)
        if state in ("queued", "running"):
            return False
        failed = [
            f"{p['platform']}: {p['last_error'] or p['state']}"
            for p in found.posts
            if p["state"] in ("failed", "needs_attention")
        ]
        self.outbox.put(
            {
                "type": "pipeline_completed",  # the name the desktop client ends a run on
                "timestamp": time.time(),
                "message": f"job {self.job_id}: {state}",
                "data": {
                    "job_id": self.job_id,
                    "state": state,
                    "success": state == "published",
                    "error": "; ".join(failed) or (None if state == "published" else state),
                    "platforms": [
                        {"platform": p["platform"], "state": p["state"], "url": p["url"]}
                        for p in found.posts
                    ],
                },
            }
        )
        return True

    def progressed(self, event: UploadProgressed) -> None:
        platform = self.platforms.get(event.post_id)
        if platform is not None and event.post_id not in self.settled:
            self.outbox.put(self.rates.message(event, platform), progress=True)

    async def run(self) -> None:
        """Until the job is finished: catch up whenever a post changed, or every second."""
        while not await self.catch_up():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), POLL_SECONDS)
            self.changed.clear()


async def _forward(ctx: Context, stream: JobStream) -> None:
    """Bus events to the stream: progress of the job's posts, and the doorbell."""
    bus = ctx.bus
    if bus is None:
        await asyncio.Event().wait()  # standalone: no bus, the ledger is polled
        return
    with (
        bus.subscribe(UploadProgressed, maxsize=256) as progress,
        bus.subscribe(PostChanged, maxsize=64) as changes,
    ):

        async def ring() -> None:
            async for _ in changes:
                stream.changed.set()

        bell = asyncio.create_task(ring())
        try:
            await stream.primed.wait()  # the replay knows the job's posts: none is ignored
            async for event in progress:
                stream.progressed(event)
        finally:
            bell.cancel()


async def _send(websocket: WebSocket, outbox: Outbox, done: asyncio.Event) -> None:
    """Send every message; return once the job finished and the outbox is empty."""
    while not (done.is_set() and not len(outbox)):
        getter = asyncio.ensure_future(outbox.get())
        waiter = asyncio.ensure_future(done.wait())
        try:
            await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this sender is cancelled (the client left): no task left behind
            waiter.cancel()
            if not getter.done():
                getter.cancel()
        if getter.cancelled():
            continue
        try:
            await websocket.send_text(json.dumps(getter.result(), ensure_ascii=False))
        except (WebSocketDisconnect, OSError):
            return  # the client went away (or its connection did)


async def _receive(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return


async def _pump(
    ctx: Context,
    websocket: WebSocket,
    outbox: Outbox,
    producers: list[Awaitable[None]],
    finished: asyncio.Event,
) -> None:
    """Run the producers, send the outbox, stop when the client leaves or, once ``finished``
    is set, when the outbox is empty (then close 1000)."""
    workers = [asyncio.ensure_future(t) for t in producers]
    sender = asyncio.ensure_future(_send(websocket, outbox, finished))
    receiver = asyncio.ensure_future(_receive(websocket))
    try:
        await asyncio.wait({sender, receiver, *workers}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sender, *workers):
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in (sender, receiver, *workers):
            task.cancel()
        ctx.dropped += outbox.dropped
    if sender.done() and not receiver.done():
        with contextlib.suppress(Exception):
            await websocket.close(1000)


async def stream_job(ctx: Context, websocket: WebSocket, job_id: int) -> None:
    """Replay then stream ``job_id`` until it finishes or the client leaves."""
    outbox = Outbox()
    stream = JobStream(ctx, job_id, outbox)
    finished = asyncio.Event()

    async def produce() -> None:
        await stream.run()
        finished.set()
        await asyncio.Event().wait()  # keep the bus forwarder company until the end

    await _pump(ctx, websocket, outbox, [produce(), _forward(ctx, stream)], finished)


def render_message(event: RenderProgressed) -> Message:
    """A render's progress (``step_progress``) or its end (``step_completed``)."""
    name = Path(event.output).name
    fraction = None if event.percent is None else max(0.0, min(1.0, event.percent / 100))
    said = f"{name}: rendered" if event.done else f"{name}: rendering"
    if fraction is not None and not event.done:
        said = f"{name}: {fraction:.0%} rendered"
    return {
        "type": "step_completed" if event.done else "step_progress",
        "timestamp": time.time(),
        "step": "render",
        "message": said,
        "data": {
            "key": event.key,
            "output": event.output,
            "progress": 1.0 if event.done else fraction,
            "speed": event.speed,
            "done": event.done,
        },
    }


async def stream_renders(ctx: Context, websocket: WebSocket) -> None:
    """Every render's progress from now on, until the client leaves."""
    bus = ctx.bus
    if bus is None:
        await websocket.close(1008, "No live events: the API runs without the daemon")
        return
    outbox = Outbox()

    async def forward() -> None:
        with bus.subscribe(RenderProgressed, maxsize=256) as renders:
            async for event in renders:
                outbox.put(render_message(event), progress=not event.done)

    await _pump(ctx, websocket, outbox, [forward()], asyncio.Event())
