"""Building a post's texts runs off the event loop (a 20,000-character CJK caption cut for X
costs up to a second of CPU: uploads, polls and the watcher must not stall meanwhile).

The daemon's publisher posts through the real X provider to the emulator; the provider's
declared description limit records the thread of every read the caption rule makes of it.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from atroposd.captions import Counting, TextLimit
from atroposd.domain import PostState
from tests.providers.harness import Harness, make_request
from tests.providers.test_x_conformance import X_OAUTH2
from tests.providers.x_support import run_x
from tests.support import Emulator, make_clip

READERS: set[str] = set()


class WatchedLimit(TextLimit):
    """X's limit, noting which thread reads it."""

    def __getattribute__(self, name: str) -> Any:
        READERS.add(threading.current_thread().name)
        return super().__getattribute__(name)


def test_the_caption_is_cut_off_the_event_loop_for_the_upload_and_the_publish(
    emulator: Emulator, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0, seed=3, bitrate="1M")
    caption = "東京の夜。" + "とても長い説明" * 200 + " #東京"  # far over 280: cut for X

    async def scenario(h: Harness) -> None:
        watched = WatchedLimit(280, Counting.X_WEIGHTED)
        h.provider.capabilities = replace(h.provider.capabilities, description=watched)
        READERS.clear()
        planned = h.pipeline.plan(h.request, "x", sidecar=False)  # the caption file's text
        done = await h.pipeline.drive(planned.id, 30.0)
        assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
        assert READERS, "the caption rule never read the limit"
        assert threading.main_thread().name not in READERS, READERS

    run_x(X_OAUTH2, emulator, replace(make_request(clip), description=caption), scenario)
