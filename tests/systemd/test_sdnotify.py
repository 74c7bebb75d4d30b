"""sd_notify's wire format on a real socket: one datagram, KEY=value lines; paths and abstract
names; WATCHDOG_PID; the variables taken out of the environment; a missing socket is no error."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from atroposd.sdnotify import Notifier, socket_address, watchdog_seconds


def _bound(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_one_datagram_per_message_on_an_abstract_socket() -> None:
    name = f"atroposd-unit-{os.getpid()}"
    with _bound("\0" + name) as sock:
        env = {"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "3000000"}
        notifier = Notifier.from_environ(env)
        assert env == {}  # children (ffmpeg) never notify in our name
        assert notifier.ping_interval == 1.5
        assert notifier.ready("watching 2 folders, 0 queued, 0 uploading")
        assert sock.recv(4096) == b"READY=1\nSTATUS=watching 2 folders, 0 queued, 0 uploading"
        assert notifier.reloading()
        fields = sock.recv(4096).decode().split("\n")
        assert fields[0] == "RELOADING=1" and fields[1].startswith("MONOTONIC_USEC=")
        assert int(fields[1].split("=")[1]) > 0
        notifier.ping()
        assert sock.recv(4096) == b"WATCHDOG=1"
        notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
        notifier.close()


def test_a_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    with _bound(str(path)) as sock:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": str(path)})
        assert notifier.status("hello") and sock.recv(4096) == b"STATUS=hello"
        assert notifier.ping_interval is None
        notifier.close()


def test_the_watchdog_is_ours_only_when_watchdog_pid_is_our_pid() -> None:
    usec = {"WATCHDOG_USEC": "2000000"}
    assert watchdog_seconds({**usec, "WATCHDOG_PID": str(os.getpid())}, os.getpid()) == 2.0
    assert watchdog_seconds({**usec, "WATCHDOG_PID": "1"}, os.getpid()) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "x"}, 5) is None
    assert socket_address("relative/path") is None and socket_address("@") is None


def test_no_socket_or_nobody_listening_is_not_an_error(tmp_path: Path) -> None:
    assert Notifier.from_environ({}).ready() is False
    gone = Notifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "nobody.sock")})
    assert gone.enabled and gone.ready() is False  # logged at debug, never raised
    gone.close()
