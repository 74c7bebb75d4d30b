"""A typed in-process pub/sub: events are past-tense facts carrying ids (a doorbell, not data)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, TypeVar

from atroposd.domain import ClipFiles, PostState


@dataclass(frozen=True)
class ClipReady:
    """A complete video + caption pair was found on disk."""

    files: ClipFiles


@dataclass(frozen=True)
class PostDue:
    """A post may be ready to work on; the handler re-reads the ledger."""

    post_id: int


@dataclass(frozen=True)
class PostChanged:
    """A post moved to a new state."""

    post_id: int
    state: PostState


@dataclass(frozen=True)
class UploadProgressed:
    """Bytes of a post's upload that the platform has confirmed."""

    post_id: int
    done: int
    total: int


E = TypeVar("E")


class Bus:
    """Fan-out of events to per-subscriber queues, by event type."""

    def __init__(self) -> None:
        self._subs: dict[type[Any], list[asyncio.Queue[Any]]] = defaultdict(list)

    def subscribe(self, kind: type[E]) -> asyncio.Queue[E]:
        """A queue that receives every later event of ``kind``."""
        queue: asyncio.Queue[E] = asyncio.Queue()
        self._subs[kind].append(queue)
        return queue

    def publish(self, event: object) -> None:
        """Deliver ``event`` to every subscriber of its type (never blocks)."""
        for queue in self._subs.get(type(event), ()):
            queue.put_nowait(event)
