"""What the TikTok scenario tests share: media, the binding, emulator look-ups."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from atroposd.demo import make_clip
from tests.providers.harness import Harness, Scenario, make_request, run
from tests.providers.test_tiktok_conformance import CHUNK, TIKTOK
from tests.support import Emulator

__all__ = [
    "CHUNK",
    "INIT",
    "PUT",
    "STATUS",
    "TIKTOK",
    "calls",
    "control",
    "go",
    "publishes",
    "quick",
    "two_chunk_media",
]
INIT, PUT, STATUS = "video/init/", "/tiktok/video/?", "status/fetch/"  # for ``calls``
QUICK_PROCESSING_S = 0.05  # the suite's 0.3 s, shortened where a test posts many times


def two_chunk_media(path: Path) -> Path:
    """A real MP4 of ~11.6 MiB: two TikTok chunks (5 MiB and ~6.6 MiB)."""
    made = make_clip(path, 11, seconds=2.0, size="360x640", bitrate="50M")
    assert made.stat().st_size // CHUNK == 2, made.stat().st_size
    return made


async def publishes(h: Harness) -> list[dict[str, Any]]:
    """The emulator's publishes (``/_emulator/tiktok/publishes``)."""
    resp = await h.ctl.get("/_emulator/tiktok/publishes")
    return list(resp.raise_for_status().json())


async def control(h: Harness, path: str, **body: Any) -> None:
    """POST ``/_emulator/tiktok/<path>``."""
    (await h.ctl.post(f"/_emulator/tiktok/{path}", json=body)).raise_for_status()


def calls(h: Harness, what: str) -> int:
    """Requests the provider sent whose URL contains ``what`` (``video/init``, ``/video/?``)."""
    return sum(1 for r in h.sent if what in str(r.url))


def quick(scenario: Scenario) -> Scenario:
    """``scenario`` on an emulator whose TikTok uploads process in 0.05 s."""

    async def wrapped(h: Harness) -> None:
        await control(h, "processing", seconds=QUICK_PROCESSING_S)
        await scenario(h)

    return wrapped


def go(emulator: Emulator, media: Path, scenario: Scenario, **changes: Any) -> None:
    """Run ``scenario`` (quick processing) on ``media`` with request fields ``changes``."""
    run(TIKTOK, emulator, replace(make_request(media), **changes), quick(scenario))
