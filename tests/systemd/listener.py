"""A NOTIFY_SOCKET the test owns: an abstract AF_UNIX datagram socket, read by a thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.support import wait_for


@dataclass(frozen=True)
class Message:
    """One datagram: its fields and when it arrived (monotonic seconds)."""

    at: float
    fields: dict[str, str] = field(default_factory=dict)

    def has(self, key: str, value: str | None = None) -> bool:
        return key in self.fields and (value is None or self.fields[key] == value)


class NotifyListener:
    """Binds ``@atroposd-test-<uuid>``; ``env`` is what the daemon gets; ``on_message`` runs
    in the reader thread the moment a datagram arrives (before the next one is read)."""

    def __init__(self, on_message: Callable[[Message], None] | None = None) -> None:
        self.name = f"atroposd-test-{uuid.uuid4().hex}"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind("\0" + self.name)
        self._sock.settimeout(0.2)
        self.messages: list[Message] = []
        self._on_message = on_message
        self._closed = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    @property
    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": "@" + self.name}

    def _read(self) -> None:
        while not self._closed:
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            message = Message(time.monotonic(), fields)
            if self._on_message is not None:
                self._on_message(message)
            self.messages.append(message)

    def with_key(self, key: str, value: str | None = None) -> list[Message]:
        return [m for m in list(self.messages) if m.has(key, value)]

    def wait(
        self, key: str, value: str | None = None, count: int = 1, timeout: float = 60
    ) -> list[Message]:
        return wait_for(
            lambda: len(self.with_key(key, value)) >= count and self.with_key(key, value),
            timeout,
            f"{count} x {key}={value} on NOTIFY_SOCKET",
        )

    def wait_status(self, start: str, timeout: float = 60) -> Message:
        def found() -> Message | None:
            return next(
                (m for m in list(self.messages) if m.fields.get("STATUS", "").startswith(start)),
                None,
            )

        return wait_for(found, timeout, f"STATUS={start}...")

    def close(self) -> None:
        self._closed = True
        self._thread.join(5)
        self._sock.close()
