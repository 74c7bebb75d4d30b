"""Streaming multipart bodies: what a real MIME parser reads is exactly the file's bytes.

The server is tests/unit/multipart_server.py in its own process (h11 on loopback, the
standard library's ``email`` parser), so ``tracemalloc`` here measures the client alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.providers._http import file_slice
from atroposd.providers.chunks import MIB, X_PLAN
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart
from tests.unit.multipart_server import serve
from tests.unit.streams_support import sha256_file, slice_of, write_random


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve() as url:
        yield url


def file_part(name: str, path: Path, offset: int, length: int, **kw: Any) -> StreamPart:
    return StreamPart(name, length, lambda: file_slice(path, offset, length), **kw)


async def post(url: str, body: MultipartBody) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as http:
        resp = await http.post(url, content=body, headers=body.headers)
    resp.raise_for_status()
    found: dict[str, Any] = resp.json()
    return found


def assert_clean(found: dict[str, Any], body: MultipartBody) -> None:
    """A well-formed body of exactly the announced length, not chunked."""
    assert found["multipart"] and found["defects"] == []
    assert found["received"] == found["content_length"] == body.content_length
    assert not found["chunked"]


def test_x_append_segments_parse_to_the_file_slices(server: str, tmp_path: Path) -> None:
    size = 3 * MIB + 12_345
    video = write_random(tmp_path / "v.mp4", size)
    chunks = X_PLAN.split(size, MIB)
    assert len(chunks) == 4

    async def main() -> list[dict[str, Any]]:
        found = []
        for c in chunks:
            fields = [TextPart("segment_index", str(c.index))]
            media = file_part("media", video, c.offset, c.length)
            body = MultipartBody([*fields, media])
            found.append(await post(server, body))
            assert_clean(found[-1], body)
        return found

    for c, found in zip(chunks, asyncio.run(main()), strict=True):
        index, media = found["parts"]
        assert (index["name"], index["value"], index["filename"]) == (
            "segment_index",
            str(c.index),
            None,
        )
        assert (media["name"], media["filename"]) == ("media", "blob")
        assert media["content_type"] == "application/octet-stream"
        assert media["length"] == c.length
        expected = slice_of(video, c.offset, c.length)
        assert media["sha256"] == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize("length", [0, 1, 2, 15, MIB - 1, MIB, MIB + 1])
def test_part_lengths_around_the_piece_size_are_exact(
    server: str, tmp_path: Path, length: int
) -> None:
    video = write_random(tmp_path / "v.mp4", MIB + 7)
    body = MultipartBody(
        [
            TextPart("action", "ADD"),
            TextPart("part_number", "1"),
            file_part("file", video, 3, length, filename="part", content_type="video/mp4"),
        ]
    )
    found = asyncio.run(post(server, body))
    assert_clean(found, body)
    action, number, part = found["parts"]
    assert (action["value"], number["value"]) == ("ADD", "1")
    assert (part["name"], part["filename"], part["content_type"]) == ("file", "part", "video/mp4")
    assert part["sha256"] == hashlib.sha256(slice_of(video, 3, length)).hexdigest()


def test_text_fields_names_and_a_given_boundary(server: str, tmp_path: Path) -> None:
    video = write_random(tmp_path / "v.mp4", 100)
    body = MultipartBody(
        [
            TextPart("caption", "Grüße ✓ \r\n--not-the-boundary"),
            TextPart('we"ird', "x"),
            file_part("media", video, 0, 100, filename="clip 1.mp4"),
        ],
        boundary="atroposd-test-boundary",
    )
    assert body.content_type == "multipart/form-data; boundary=atroposd-test-boundary"
    found = asyncio.run(post(server, body))
    assert_clean(found, body)
    caption, weird, media = found["parts"]
    assert caption["value"] == "Grüße ✓ \r\n--not-the-boundary"
    assert weird["name"] == "we%22ird"  # quotes escaped as browsers do
    assert media["filename"] == "clip 1.mp4"


def test_a_retry_sends_the_same_body_again(server: str, tmp_path: Path) -> None:
    video = write_random(tmp_path / "v.mp4", 2 * MIB + 1)
    body = MultipartBody([file_part("media", video, 0, 2 * MIB + 1)])

    async def twice() -> tuple[dict[str, Any], dict[str, Any]]:
        return await post(server, body), await post(server, body)

    first, second = asyncio.run(twice())
    assert first == second
    assert first["parts"][0]["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()


@pytest.mark.parametrize("declared", [99, 101])
def test_a_part_of_the_wrong_length_fails_before_the_request_ends(
    server: str, tmp_path: Path, declared: int
) -> None:
    video = write_random(tmp_path / "v.mp4", 100)
    part = StreamPart("media", declared, lambda: file_slice(video, 0, 100))
    body = MultipartBody([part])
    with pytest.raises(ValueError, match="media"):
        asyncio.run(post(server, body))


def test_a_text_field_holding_the_boundary_is_refused() -> None:
    with pytest.raises(ValueError, match="boundary"):
        MultipartBody([TextPart("caption", "a\r\n--B\r\nb")], boundary="B")
    with pytest.raises(ValueError, match="boundary"):
        MultipartBody([TextPart("a", "b")], boundary="has space")


def test_a_64_mib_part_streams_in_constant_memory(server: str, tmp_path: Path) -> None:
    size = 64 * MIB
    video = write_random(tmp_path / "big.mp4", size)
    body = MultipartBody([TextPart("segment_index", "0"), file_part("media", video, 0, size)])

    async def main() -> tuple[dict[str, Any], int]:
        async with httpx.AsyncClient(timeout=120) as http:
            warm = MultipartBody([TextPart("warm", "up")])
            await http.post(server, content=warm, headers=warm.headers)
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            resp = await http.post(server, content=body, headers=body.headers)
            _, peak = tracemalloc.get_traced_memory()
        return resp.json(), peak - base

    tracemalloc.start()
    try:
        found, peak = asyncio.run(main())
    finally:
        tracemalloc.stop()
    assert_clean(found, body)
    assert found["parts"][1]["length"] == size
    assert found["parts"][1]["sha256"] == sha256_file(video)
    assert peak < 8 * MIB, f"client peak {peak / MIB:.1f} MiB for a 64 MiB body"


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


def test_content_length_matches_the_bytes_iterated(tmp_path: Path) -> None:
    video = write_random(tmp_path / "v.mp4", 5000)
    for parts in (
        [TextPart("a", "")],
        [file_part("m", video, 0, 0)],
        [TextPart("a", "1"), file_part("m", video, 10, 4000), TextPart("z", "é")],
    ):
        body = MultipartBody(parts)
        assert len(asyncio.run(_collect(aiter(body)))) == body.content_length
    assert os.path.getsize(video) == 5000
