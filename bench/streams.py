"""Streaming upload bodies: throughput and event-loop stalls, next to a plain file slice.

    python bench/streams.py [--size-mib 256] [--runs 3]

A sink (the emulator's h11 server, draining each body) runs in its own process; this
process streams ``--size-mib`` of random bytes to it through ``httpx.AsyncClient`` as:

  raw         ``file_slice`` as the body: today's YouTube chunk path, the baseline
  multipart   ``MultipartBody`` around ``file_slice`` (X APPEND / Snapchat ADD shape)
  enc-thread  ``MultipartBody`` around ``EncryptedSlice``: AES-256-CBC per 1 MiB piece in a
              worker thread (what ships)
  enc-loop    the same encryption on the event loop (the alternative not taken)

Then AES-CBC alone (no network), on the loop vs in a worker thread: MB/s and loop lag.

For each: median MB/s (10^6 B/s) over ``--runs`` alternating runs, and the lag a 1 ms
ticker on the same loop saw during the upload (what every other task waits): the 99th
percentile and the worst, over all runs. With two or more CPUs the sink is pinned to CPU 0
and this process to CPU 1, so the lag is this process's own, not the sink's CPU use.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from atroposd.emulator.wire import HttpServer, Request, Response  # noqa: E402
from atroposd.providers._http import file_slice  # noqa: E402
from atroposd.providers.encryption import (  # noqa: E402
    CbcKey,
    EncryptedSlice,
    ciphertext_size,
    pkcs7_tail,
)
from atroposd.providers.streams import MultipartBody, StreamPart, TextPart  # noqa: E402

MIB = 1 << 20
Body = Callable[[Path, int, CbcKey], tuple[object, dict[str, str]]]


def pin(cpu: int) -> None:
    """Run on one CPU when there are two or more (sink and client never share one)."""
    if len(os.sched_getaffinity(0)) >= 2:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[cpu]})


async def sink_main() -> None:
    pin(0)

    async def drain(request: Request) -> Response:
        await request.discard()
        return Response(200)

    server = HttpServer(drain, "127.0.0.1", 0)
    await server.start()
    print(server.port, flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await server.stop()


def raw(path: Path, size: int, key: CbcKey) -> tuple[object, dict[str, str]]:
    return file_slice(path, 0, size), {"Content-Length": str(size)}


def multipart(path: Path, size: int, key: CbcKey) -> tuple[object, dict[str, str]]:
    media = StreamPart("media", size, lambda: file_slice(path, 0, size))
    body = MultipartBody([TextPart("segment_index", "0"), media])
    return body, body.headers


def enc_thread(path: Path, size: int, key: CbcKey) -> tuple[object, dict[str, str]]:
    total = ciphertext_size(size)
    part = EncryptedSlice(path, size, key, 0, total)
    body = MultipartBody([TextPart("action", "ADD"), StreamPart("file", total, lambda: part)])
    return body, body.headers


async def _on_loop(path: Path, size: int, key: CbcKey) -> AsyncIterator[bytes]:
    encryptor = Cipher(algorithms.AES(key.key), modes.CBC(key.iv)).encryptor()
    async for piece in file_slice(path, 0, size):
        yield encryptor.update(piece)
    yield encryptor.update(pkcs7_tail(size)) + encryptor.finalize()


def enc_loop(path: Path, size: int, key: CbcKey) -> tuple[object, dict[str, str]]:
    total = ciphertext_size(size)
    part = StreamPart("file", total, lambda: _on_loop(path, size, key))
    body = MultipartBody([TextPart("action", "ADD"), part])
    return body, body.headers


VARIANTS: dict[str, Body] = {
    "raw": raw,
    "multipart": multipart,
    "enc-thread": enc_thread,
    "enc-loop": enc_loop,
}


async def one_run(url: str, path: Path, size: int, make: Body) -> tuple[float, list[float]]:
    """(MB/s, every loop lag in ms) of one upload."""
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            start = loop.time()
            await asyncio.sleep(0.001)
            lags.append((loop.time() - start - 0.001) * 1000)

    async with httpx.AsyncClient(timeout=300) as http:
        await http.post(url, content=b"warm")
        content, headers = make(path, size, CbcKey.generate())
        tick = asyncio.create_task(ticker())
        start = time.perf_counter()
        resp = await http.post(url, content=content, headers=headers)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        done.set()
        await tick
    resp.raise_for_status()
    return size / elapsed / 1e6, lags


async def encrypt_only(size_mib: int, in_thread: bool) -> tuple[float, list[float]]:
    """AES-CBC of ``size_mib`` 1 MiB pieces with no network: (MB/s, loop lags in ms)."""
    data = os.urandom(MIB)
    key = CbcKey.generate()
    encryptor = Cipher(algorithms.AES(key.key), modes.CBC(key.iv)).encryptor()
    lags: list[float] = []
    done = False

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        while not done:
            start = loop.time()
            await asyncio.sleep(0.001)
            lags.append((loop.time() - start - 0.001) * 1000)

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    for _ in range(size_mib):
        if in_thread:
            await asyncio.to_thread(encryptor.update, data)
        else:
            encryptor.update(data)
            await asyncio.sleep(0)  # yield between pieces, as a generator feeding httpx does
    elapsed = time.perf_counter() - start
    done = True
    await tick
    return size_mib * MIB / elapsed / 1e6, lags


def print_encrypt_only(size_mib: int, runs: int) -> None:
    print(f"AES-256-CBC alone, {size_mib} x 1 MiB pieces, no network:")
    print(f"{'where':<12} {'MB/s':>8} {'lag p50 ms':>11} {'lag p99 ms':>11}")
    for name, in_thread in (("loop", False), ("thread", True)):
        speeds, lags = [], []
        for _ in range(runs):
            speed, run_lags = asyncio.run(encrypt_only(size_mib, in_thread))
            speeds.append(speed)
            lags += run_lags
        lags.sort()
        p50, p99 = lags[len(lags) // 2], lags[int(len(lags) * 0.99)]
        print(f"{name:<12} {statistics.median(speeds):>8.0f} {p50:>11.2f} {p99:>11.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink:
        asyncio.run(sink_main())
        return
    size = args.size_mib * MIB
    pin(1)
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    path = scratch / "clip.bin"
    with path.open("wb") as f:
        for _ in range(args.size_mib):
            f.write(os.urandom(MIB))
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert sink.stdin is not None and sink.stdout is not None
    try:
        url = f"http://127.0.0.1:{sink.stdout.readline().decode().strip()}/"
        results: dict[str, list[tuple[float, list[float]]]] = {name: [] for name in VARIANTS}
        names = list(VARIANTS)
        for run in range(args.runs):
            for name in names[run % len(names) :] + names[: run % len(names)]:
                results[name].append(asyncio.run(one_run(url, path, size, VARIANTS[name])))
        print(f"{args.size_mib} MiB body, {args.runs} runs each, sink = emulator h11 server")
        print(f"{'variant':<12} {'MB/s':>8} {'x raw':>6} {'lag p99 ms':>11} {'worst ms':>9}")
        base = statistics.median(r[0] for r in results["raw"])
        for name, runs in results.items():
            speed = statistics.median(r[0] for r in runs)
            lags = sorted(lag for r in runs for lag in r[1])
            p99 = lags[int(len(lags) * 0.99)]
            print(f"{name:<12} {speed:>8.0f} {speed / base:>6.2f} {p99:>11.1f} {lags[-1]:>9.1f}")
        print_encrypt_only(args.size_mib, args.runs)
    finally:
        sink.stdin.close()
        sink.wait(10)
        path.unlink()
        scratch.rmdir()


if __name__ == "__main__":
    main()
