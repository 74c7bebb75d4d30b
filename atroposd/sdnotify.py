"""sd_notify(3) in pure Python: one datagram on ``$NOTIFY_SOCKET`` per message.

The protocol needs no libsystemd: newline-separated ``KEY=value`` fields in one datagram to the
AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket).
Outside systemd (no ``NOTIFY_SOCKET``) every call does nothing. Sending never raises and never
blocks: a lost notification must not stop the daemon (systemd times the start or the watchdog
out, which is the right outcome when it cannot hear us).

The watchdog (``WATCHDOG_USEC``) is on when systemd set it for this process: ``WATCHDOG_PID``
absent or equal to our pid. ``ping_interval`` is half of it, as sd_watchdog_enabled(3) advises.
The caller sends ``WATCHDOG=1`` from its event loop, so a wedged loop stops the pings.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import MutableMapping

import structlog

log = structlog.get_logger(__name__)

ENV_NAMES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str) -> str | None:
    """The address to send to: a path, or ``\\0name`` for ``@name``; None when unusable."""
    if value.startswith("@"):
        return "\0" + value[1:] if len(value) > 1 else None
    return value if value.startswith("/") else None


def watchdog_seconds(environ: MutableMapping[str, str], pid: int) -> float | None:
    """``WATCHDOG_USEC`` in seconds when it is meant for ``pid``, else None."""
    owner = environ.get("WATCHDOG_PID")
    if owner and owner.strip() != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Notifier:
    """Sends READY/STATUS/WATCHDOG/RELOADING/STOPPING to systemd (or nothing, outside it)."""

    def __init__(self, address: str | None, watchdog: float | None) -> None:
        self._address = address
        self.watchdog = watchdog if address is not None else None
        self._sock: socket.socket | None = None

    @classmethod
    def from_environ(
        cls, environ: MutableMapping[str, str] | None = None, unset: bool = True
    ) -> Notifier:
        """Read ``NOTIFY_SOCKET``/``WATCHDOG_*``; ``unset`` removes them, so child processes
        (ffmpeg, ffprobe) never talk to systemd in our name."""
        env = os.environ if environ is None else environ
        address = socket_address(env.get("NOTIFY_SOCKET", ""))
        watchdog = watchdog_seconds(env, os.getpid())
        if unset:
            for name in ENV_NAMES:
                env.pop(name, None)
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        """True when there is a socket to notify."""
        return self._address is not None

    @property
    def ping_interval(self) -> float | None:
        """How often to send ``WATCHDOG=1`` (half the watchdog timeout), or None."""
        return self.watchdog / 2 if self.watchdog else None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` as one datagram; False (logged at debug) when it could not go."""
        if self._address is None:
            return False
        data = "\n".join(fields).encode()
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(data, self._address)
        except OSError as exc:
            log.debug("sd_notify_failed", error=exc.strerror or str(exc), fields=list(fields))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up (or a reload) is complete."""
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=``: one line shown by ``systemctl status``."""
        return self.send(f"STATUS={text}")

    def ping(self) -> bool:
        """``WATCHDOG=1``: the event loop is alive."""
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        """``RELOADING=1`` with ``MONOTONIC_USEC`` (required by ``Type=notify-reload``)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: shutdown has begun."""
        return self.send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        """Close the socket (a later send opens it again)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
