"""A typed in-process pub/sub: events are past-tense facts carrying ids (a doorbell, not data).

Every subscription has a bounded queue, so a slow subscriber (a stalled websocket) can never
grow the daemon's memory. What happens when it is full is declared per event type
(``OVERFLOW``):

- ``Overflow.DROP_OLDEST`` (progress, state changes): the oldest queued event is dropped and
  counted in ``Subscription.dropped``; a subscriber sees the newest ``maxsize`` events.
- ``Overflow.COALESCE`` (doorbells such as ``PostDue``): an event equal to one already queued is
  not queued twice; if the queue is still full the oldest is dropped. Handlers re-read the
  ledger and the reconcile sweep rings every due post again, so nothing is lost for good.

``with bus.subscribe(Kind) as sub:`` unsubscribes on exit; ``sub.close()`` does the same.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

from atroposd.domain import PostState

DEFAULT_MAXSIZE = 1024


class Overflow(StrEnum):
    """What a full subscription does with one more event."""

    DROP_OLDEST = "drop_oldest"
    COALESCE = "coalesce"


@dataclass(frozen=True)
class PostDue:
    """A post may be ready to work on; the handler re-reads the ledger."""

    OVERFLOW: ClassVar[Overflow] = Overflow.COALESCE
    post_id: int


@dataclass(frozen=True)
class PostChanged:
    """A post moved to a new state."""

    OVERFLOW: ClassVar[Overflow] = Overflow.DROP_OLDEST
    post_id: int
    state: PostState


@dataclass(frozen=True)
class UploadProgressed:
    """Bytes of a post's upload that the platform has confirmed."""

    OVERFLOW: ClassVar[Overflow] = Overflow.DROP_OLDEST
    post_id: int
    done: int
    total: int


@dataclass(frozen=True)
class RenderProgressed:
    """How far a render is: ``key`` is its cache key, ``output`` the file it becomes;
    ``percent`` of the cut and ``speed`` (× real time) are None until ffmpeg knows them."""

    OVERFLOW: ClassVar[Overflow] = Overflow.DROP_OLDEST
    key: str
    output: str
    percent: float | None
    speed: float | None
    done: bool = False


E = TypeVar("E")


class Subscription(Generic[E]):
    """A bounded queue of later events of one type; ``await get()`` or ``async for``."""

    def __init__(self, bus: Bus, kind: type[E], maxsize: int, overflow: Overflow) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.kind = kind
        self.maxsize = maxsize
        self.overflow = overflow
        self.dropped = 0  # events discarded because the subscriber was behind
        self._bus = bus
        self._items: deque[E] = deque()
        self._queued: set[E] = set()  # COALESCE: what is in _items
        self._ready = asyncio.Event()
        self._closed = False

    def offer(self, event: E) -> None:
        """Queue ``event`` under the overflow rule (never blocks)."""
        if self._closed:
            return
        if self.overflow is Overflow.COALESCE:
            if event in self._queued:
                return
            self._queued.add(event)
        if len(self._items) >= self.maxsize:
            self._queued.discard(self._items.popleft())
            self.dropped += 1
        self._items.append(event)
        self._ready.set()

    def qsize(self) -> int:
        """Events waiting."""
        return len(self._items)

    def empty(self) -> bool:
        """True when no event waits."""
        return not self._items

    def get_nowait(self) -> E:
        """The oldest waiting event; ``asyncio.QueueEmpty`` when there is none."""
        if not self._items:
            raise asyncio.QueueEmpty
        event = self._items.popleft()
        self._queued.discard(event)
        return event

    async def get(self) -> E:
        """Wait for the next event."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()

    def close(self) -> None:
        """Stop receiving events and forget the queued ones."""
        self._closed = True
        self._items.clear()
        self._queued.clear()
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription[E]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Subscription[E]:
        return self

    async def __anext__(self) -> E:
        return await self.get()


class Bus:
    """Fan-out of events to bounded per-subscriber queues, by event type."""

    def __init__(self) -> None:
        self._subs: dict[type[Any], list[Subscription[Any]]] = {}

    def subscribe(
        self, kind: type[E], maxsize: int = DEFAULT_MAXSIZE, overflow: Overflow | None = None
    ) -> Subscription[E]:
        """A bounded queue that receives every later event of ``kind`` until closed."""
        rule = overflow or Overflow(getattr(kind, "OVERFLOW", Overflow.DROP_OLDEST))
        sub: Subscription[E] = Subscription(self, kind, maxsize, rule)
        self._subs.setdefault(kind, []).append(sub)
        return sub

    def unsubscribe(self, sub: Subscription[Any]) -> None:
        """Stop delivering to ``sub`` (idempotent)."""
        subs = self._subs.get(sub.kind, [])
        if sub in subs:
            subs.remove(sub)
        if not subs:
            self._subs.pop(sub.kind, None)

    def subscribers(self, kind: type[Any]) -> int:
        """How many subscriptions ``kind`` has now."""
        return len(self._subs.get(kind, ()))

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every subscriber of its type (never blocks)."""
        for sub in tuple(self._subs.get(type(event), ())):
            sub.offer(event)
