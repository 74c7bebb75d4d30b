"""Chunk plans: every plan cuts every file exactly, within the platform's rules.

Property-style without hypothesis (not installed): each property is checked over the edge
sizes of every plan (0, 1, around each bound and multiple) and a few hundred seeded random
(size, preference) pairs, so a failure names a reproducible case.
"""

from __future__ import annotations

import itertools
import random

import pytest

from atroposd.providers.chunks import (
    MIB,
    SNAPCHAT_PLAN,
    TIKTOK_PLAN,
    X_PLAN,
    YOUTUBE_PLAN,
    Chunk,
    ChunkPlan,
)

PLANS = {
    "youtube": YOUTUBE_PLAN,
    "tiktok": TIKTOK_PLAN,
    "x": X_PLAN,
    "snapchat": SNAPCHAT_PLAN,
    "default": ChunkPlan(),
}
PREFERENCES = (1, 1000, 256 * 1024, 256 * 1024 + 1, MIB, 5 * MIB, 8 * MIB, 64 * MIB, 1 << 30)


def _edge_sizes(plan: ChunkPlan) -> set[int]:
    sizes = {0, 1, 15, 16, 17, 1000, MIB, 5 * 10**6, 5 * MIB - 1, 5 * MIB, 5 * MIB + 1}
    for bound in (plan.min_bytes, plan.max_bytes or MIB, plan.multiple):
        for k in (1, 2, 3, 7):
            sizes |= {k * bound - 1, k * bound, k * bound + 1}
    largest = plan.largest_file()
    if largest is not None:
        sizes |= {largest - 1, largest}
    return {s for s in sizes if s >= 0}


def _cases(plan: ChunkPlan, seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    top = plan.largest_file() or 300 * 10**9
    cases = [(s, p) for s in sorted(_edge_sizes(plan)) for p in PREFERENCES]
    for _ in range(300):
        size = rng.choice([rng.randrange(0, 64 * MIB), rng.randrange(0, top + 1)])
        cases.append((size, rng.randrange(1, 256 * MIB)))
    return cases


def _chunks(plan: ChunkPlan, size: int, chunk_size: int, count: int) -> list[Chunk]:
    """Every chunk, walked with ``next_chunk`` as a resumed upload would; for a cut of
    thousands of chunks the first three and the last three (the middle ones are alike)."""
    if count > 2000:
        sample = (0, 1, 2, count - 3, count - 2, count - 1)
        return [plan.next_chunk(size, chunk_size, i * chunk_size) for i in sample]
    chunks: list[Chunk] = []
    while (offset := chunks[-1].end if chunks else 0) < size:
        chunks.append(plan.next_chunk(size, chunk_size, offset))
    return chunks


def _check(plan: ChunkPlan, size: int, preferred: int) -> None:
    chunk_size = plan.chunk_size(size, preferred)
    count = plan.count(size, chunk_size)
    context = f"size={size} preferred={preferred} chunk_size={chunk_size}"
    chunks = _chunks(plan, size, chunk_size, count)
    if count <= 2000:
        assert tuple(chunks) == plan.split(size, preferred), context
    # Exact, contiguous cover with consecutive indexes (sampled: consecutive where
    # adjacent, and the count of the gap matches its bytes), no empty chunk.
    assert (chunks[0].offset if chunks else 0) == 0, context
    assert (chunks[-1].end if chunks else 0) == size, context
    for a, b in itertools.pairwise(chunks):
        gap = b.index - a.index - 1
        assert b.offset == a.end + gap * chunk_size, context
    assert (chunks[-1].index + 1 if chunks else 0) == count, context
    assert all(c.length > 0 for c in chunks), context
    # Count: within the platform's cap; a last-absorbs plan has floor(size / chunk_size).
    if plan.max_count is not None:
        assert count <= plan.max_count, context
    # Bounds and multiples for every chunk but the last.
    for c in chunks[:-1]:
        assert c.length == chunk_size, context
        assert c.length % plan.multiple == 0, context
        assert c.length >= plan.min_bytes, context
        assert plan.max_bytes is None or c.length <= plan.max_bytes, context
    if chunks:
        last = chunks[-1].length
        if plan.last_absorbs_remainder:
            assert count == max(1, size // chunk_size), context
            assert chunk_size <= size and last < 2 * chunk_size, context
            # The platform holding part of a chunk: that chunk is sent again, whole.
            assert plan.next_chunk(size, chunk_size, size - 1) == chunks[-1], context
        else:
            assert count == -(-size // chunk_size) and last <= chunk_size, context


@pytest.mark.parametrize("name", sorted(PLANS))
def test_every_plan_covers_every_file_exactly_within_its_rules(name: str) -> None:
    plan = PLANS[name]
    for size, preferred in _cases(plan, seed=sum(map(ord, name))):
        _check(plan, size, preferred)


def test_youtube_rounds_the_preference_to_256_kib_multiples() -> None:
    quantum = 256 * 1024
    assert YOUTUBE_PLAN.fit(8 * MIB) == 8 * MIB
    assert YOUTUBE_PLAN.fit(quantum + 1) == quantum  # rounded down, not rejected
    assert YOUTUBE_PLAN.fit(1000) == quantum  # never below one quantum
    chunks = YOUTUBE_PLAN.split(3 * quantum + 5, 2 * quantum + 7)
    assert [(c.offset, c.length) for c in chunks] == [(0, 2 * quantum), (2 * quantum, quantum + 5)]


def test_youtube_continues_where_the_server_says_even_mid_chunk() -> None:
    # Google may store fewer bytes than were sent: the next chunk starts at its Range end.
    quantum = 256 * 1024
    size = 10 * quantum + 3
    assert YOUTUBE_PLAN.next_chunk(size, 4 * quantum, 3 * quantum) == Chunk(
        0, 3 * quantum, 4 * quantum
    )
    assert YOUTUBE_PLAN.next_chunk(size, 4 * quantum, 9 * quantum).length == quantum + 3


def test_tiktok_worked_example_from_the_media_transfer_guide() -> None:
    # 50,000,123 bytes at chunk_size 10,000,000: 5 chunks, the last one 10,000,123 bytes.
    chunks = TIKTOK_PLAN.split(50_000_123, 10_000_000)
    assert TIKTOK_PLAN.chunk_size(50_000_123, 10_000_000) == 10_000_000
    assert [c.length for c in chunks] == [10_000_000] * 4 + [10_000_123]
    assert chunks[-1].offset == 40_000_000 and chunks[-1].end == 50_000_123


@pytest.mark.parametrize("size", [1, 4 * 10**6, 5 * MIB - 1, 5 * MIB, 7 * MIB])
def test_tiktok_small_files_go_whole_with_chunk_size_equal_to_size(size: int) -> None:
    assert TIKTOK_PLAN.chunk_size(size, 8 * MIB) == size
    assert TIKTOK_PLAN.split(size, 8 * MIB) == (Chunk(0, 0, size),)


def test_tiktok_clamps_the_preference_and_keeps_the_last_chunk_under_128_mb() -> None:
    assert TIKTOK_PLAN.fit(1) == 5 * MIB
    assert TIKTOK_PLAN.fit(1 << 30) == 64 * 10**6
    size = 4 * 10**9  # TikTok's largest file
    chunks = TIKTOK_PLAN.split(size, 1 << 30)
    assert len(chunks) == size // (64 * 10**6)
    assert chunks[-1].length <= 128 * 10**6


def test_tiktok_grows_chunks_to_stay_within_1000() -> None:
    size = 6 * 10**9  # 1,144 chunks of 5 MiB: too many at the smallest size
    chunk_size = TIKTOK_PLAN.chunk_size(size, 1)
    assert size // chunk_size == 1000
    assert size // (chunk_size - 1) > 1000  # the smallest size that fits


def test_tiktok_resume_resends_the_chunk_that_holds_the_platform_offset() -> None:
    size, chunk_size = 50_000_123, 10_000_000
    assert TIKTOK_PLAN.next_chunk(size, chunk_size, 12_345_678) == Chunk(1, 10_000_000, 10_000_000)
    assert TIKTOK_PLAN.next_chunk(size, chunk_size, 49_999_999) == Chunk(4, 40_000_000, 10_000_123)


def test_x_segments_stay_under_5_mb_and_1000_segments() -> None:
    assert X_PLAN.fit(8 * MIB) == 4 * MIB < 5 * 10**6
    size = 512 * 10**6  # X's largest video
    chunks = X_PLAN.split(size, 1000)  # a tiny preference grows to fit 1000 segments
    assert len(chunks) <= 1000 and max(c.length for c in chunks) <= 4 * MIB


def test_snapchat_parts_are_whole_aes_blocks_of_at_most_32_mib() -> None:
    assert SNAPCHAT_PLAN.fit(8 * MIB + 5) == 8 * MIB
    assert SNAPCHAT_PLAN.fit(1 << 30) == 32 * MIB
    ciphertext = 100 * MIB + 16
    chunks = SNAPCHAT_PLAN.split(ciphertext, 1 << 30)
    assert [c.length for c in chunks] == [32 * MIB] * 3 + [4 * MIB + 16]
    assert all(c.offset % 16 == 0 for c in chunks)


@pytest.mark.parametrize("name", ["tiktok", "x", "snapchat"])
def test_a_file_too_large_for_the_plan_is_refused_not_cut_wrong(name: str) -> None:
    plan = PLANS[name]
    largest = plan.largest_file()
    assert largest is not None
    assert plan.split(largest, 1)  # the largest one still fits
    with pytest.raises(ValueError, match="chunks"):
        plan.chunk_size(largest + 1, 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"multiple": 0},
        {"min_bytes": 0},
        {"max_bytes": 100, "multiple": 16},  # max not a multiple
        {"min_bytes": 200, "max_bytes": 100},
        {"max_count": 0},
    ],
)
def test_an_impossible_plan_is_refused_when_declared(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ChunkPlan(**kwargs)  # type: ignore[arg-type]


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        YOUTUBE_PLAN.fit(0)
    with pytest.raises(ValueError):
        YOUTUBE_PLAN.split(-1, MIB)
    with pytest.raises(ValueError):
        YOUTUBE_PLAN.next_chunk(10, 4, 10)  # nothing left to send
