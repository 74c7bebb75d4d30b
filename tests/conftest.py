"""Fixtures shared by the integration tests: a real emulator and a user's workspace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.leaks import no_secret_leaks, pytest_runtest_makereport  # noqa: F401  (issue 9)
from tests.support import Emulator, Workspace


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path / "emulator-storage")
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def ws(tmp_path: Path, emulator: Emulator) -> Workspace:
    return Workspace(tmp_path / "home", emulator.url)
