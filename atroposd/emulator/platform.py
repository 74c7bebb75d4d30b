"""What an emulated platform plugs into: the shared context and the handler contract."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from atroposd.emulator.faults import FaultEngine
from atroposd.emulator.store import Store
from atroposd.emulator.wire import Request, Response


@dataclass(frozen=True)
class Context:
    """Shared state every platform module receives from the server."""

    store: Store
    faults: FaultEngine
    fallback_base_url: Callable[[], str]  # used when a request carries no Host header

    def base_url(self, request: Request) -> str:
        """Where the client reached us, so returned URLs point back at this emulator."""
        host = request.header("host")
        return f"http://{host}" if host else self.fallback_base_url()


class Platform(Protocol):
    """One emulated platform, mounted under ``/<name>``."""

    name: str
    steps: frozenset[str]  # the protocol steps fault rules can target

    async def handle(self, request: Request, path: str) -> Response:
        """Answer a request whose path had the ``/<name>`` prefix removed."""
        ...

    def reset(self) -> None:
        """Forget platform-specific state (the server resets the shared store)."""
        ...
