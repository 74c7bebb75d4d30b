"""YouTube cuts its uploads by its chunk plan: ``UPLOAD_CHUNK_BYTES`` is only a preference.

The emulator refuses a non-final chunk that is not a multiple of 256 KiB, as Google does
(providers.md §1.2), so a preference passed through unrounded would fail the upload.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from atroposd.providers.chunks import YOUTUBE_PLAN
from tests.providers.harness import Harness, default_media, make_request, run
from tests.providers.test_youtube_conformance import YOUTUBE
from tests.support import Emulator

QUANTUM = 256 * 1024


def test_a_preference_off_the_256_kib_multiple_is_rounded_and_posts(tmp_path: Path) -> None:
    binding = dataclasses.replace(YOUTUBE, chunk_size=2 * QUANTUM + 1000)
    media = default_media(tmp_path / "clip.mp4")
    request = make_request(media)
    expected = [c.length for c in YOUTUBE_PLAN.split(request.size, 2 * QUANTUM + 1000)]
    assert len(expected) >= 2 and expected[0] == 2 * QUANTUM

    async def scenario(h: Harness) -> None:
        result = await h.upload()
        assert result.bytes_sent == request.size
        puts = [r for r in h.sent if r.method == "PUT" and r.headers.get("content-length") != "0"]
        assert [int(r.headers["content-length"]) for r in puts] == expected
        posts = await h.posts()
        assert [p["sha256"] for p in posts] == [request.sha256]

    emulator = Emulator(tmp_path / "emulator")
    try:
        run(binding, emulator, request, scenario)
    finally:
        emulator.close()
