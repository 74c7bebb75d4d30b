"""One daemon with its API per test session (worker), shared by tests that only read or that
use clips of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.support import LiveApi, start_daemon
from tests.support import Emulator, Workspace


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    root = tmp_path_factory.mktemp("live-api")
    emulator = Emulator(root / "emulator-storage")
    ws = Workspace(root / "home", emulator.url, api=True)
    ws.out.mkdir(parents=True)
    api = start_daemon(ws, emulator, LOG_LEVEL="debug")
    try:
        yield api
    finally:
        api.daemon.stop()
        emulator.close()
