"""Memory: a 1 GiB Snapchat upload next to a 1 GiB YouTube upload, in the same run.

    python bench/snapchat_memory.py [--size-mib 1024] [--youtube-chunk-mib 8] [--snap-part-mib 32]

The emulator runs in its own process (``bench/upload.py``'s ``Emulator``); one structurally
valid MP4 of ``--size-mib`` is posted to each platform by a fresh child process (``--child``)
that builds the real provider through the registry, as the daemon does, and drives it the
way the publisher does: ``upload`` (Snapchat: AES-256-CBC parts encrypted from disk, ADD,
FINALIZE), ``status`` until ready, ``publish`` where the platform has that step, ``status``
until published. Each child reports its VmRSS once set up (idle), then resets VmHWM
(/proc/self/clear_refs) and reports VmHWM over the whole post: the peak the upload added.
The emulator decrypts Snapchat's parts; both posts' SHA-256 in ``/_emulator/posts`` are
checked against the file's. Then the same for the daemon (``atroposd run`` in sandbox with
one platform enabled, the clip hard-linked into its queue): VmHWM once started and idle, and
at the post (``--no-daemon`` skips it). Scratch files live on /dev/shm when it has room;
removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload import (  # the sibling bench's helpers
    CLIENT_CPU,
    MIB,
    REPO,
    Emulator,
    child_env,
    make_mp4,
    pick_workdir,
    pin,
    proc_status,
    reset_hwm,
)

ACCOUNT = "bench"


class Tokens:
    """A credential store holding one sandbox login per platform, in memory."""

    def __init__(self) -> None:
        from atroposd.providers.base import Credentials

        self._creds = Credentials("", refresh_token=f"sandbox:{ACCOUNT}:memory")

    def load(self, account: str, platform: str) -> object:
        return self._creds

    def save(self, account: str, platform: str, creds: object) -> None:
        self._creds = creds  # type: ignore[assignment]


async def post(platform: str, url: str, path: Path, size: int, chunk: int) -> dict[str, float]:
    """Build the provider as the daemon does and post ``path``; the child's figures."""
    from atroposd.clock import SystemClock
    from atroposd.providers import REGISTRY
    from atroposd.providers.base import ProviderContext, RemotePhase, UploadRequest

    timeout = httpx.Timeout(connect=10.0, read=600.0, write=600.0, pool=10.0)
    async with httpx.AsyncClient(timeout=timeout) as http:
        ctx = ProviderContext(
            http=http,
            credentials=Tokens(),  # type: ignore[arg-type]
            clock=SystemClock(),
            sandbox=True,
            sandbox_url=url,
            chunk_size=chunk,
            secrets={},
            overrides={"SNAPCHAT_PART_BYTES": str(chunk)},
        )
        provider = REGISTRY[platform](ctx)
        request = UploadRequest(ACCOUNT, path, size, "", "memory bench", "1 GiB #bench")
        idle = proc_status()["VmRSS"]
        reset_hwm()
        start = time.monotonic()

        async def until(*phases: RemotePhase) -> None:
            for _ in range(3000):  # 10 minutes at most
                if (await provider.status(ACCOUNT, ref)).phase in phases:
                    return
                await asyncio.sleep(0.2)
            raise TimeoutError(f"{platform}: not {phases} after 10 minutes")

        async def keep(new: object) -> None:
            return None

        result = await provider.upload(request, None, keep)
        ref = result.ref
        assert ref is not None
        if provider.capabilities.publish_step:
            await until(RemotePhase.READY, RemotePhase.PUBLISHED)
            await provider.publish(request, ref, keep)
        await until(RemotePhase.PUBLISHED)
        return {
            "idle_kib": idle,
            "peak_kib": proc_status()["VmHWM"],
            "seconds": time.monotonic() - start,
        }


def child(argv: list[str]) -> None:
    platform, url, path, chunk = argv
    size = Path(path).stat().st_size
    print(json.dumps(asyncio.run(post(platform, url, Path(path), size, int(chunk)))), flush=True)


def run_child(platform: str, url: str, path: Path, chunk: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", platform, url, str(path), str(chunk)]
    out = subprocess.run(
        cmd, cwd=REPO, env=child_env(), capture_output=True, text=True, check=False,
        preexec_fn=pin(CLIENT_CPU),
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"{platform} child failed:\n{out.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def run_daemon(emulator: Emulator, video: Path, platform: str, root: Path) -> dict[str, float]:
    """``atroposd run`` posting ``video`` to ``platform`` alone: VmHWM idle and at the end."""
    emulator.http.post("/_emulator/reset").raise_for_status()
    ws = root / f"daemon-{platform}"
    queue = ws / "upload_queue"
    queue.mkdir(parents=True)
    config = {"default_account": "default"}
    config["accounts"] = {"default": {"platforms": {platform: {"enabled": True}}}}  # type: ignore[assignment]
    (ws / "upload_config.json").write_text(json.dumps(config))
    env = child_env() | {
        "ENVIRONMENT": "sandbox",
        "SANDBOX_URL": emulator.url,
        "UPLOAD_FOLDER": str(queue),
        "OUT_ROOT": str(ws / "out"),
        "STATE_DIR": str(ws / "state"),
        "TOKENS_DIR": str(ws / "tokens"),
        "ARCHIVE_DIR": str(ws / "posted"),
        "UPLOAD_CONFIG": str(ws / "upload_config.json"),
        "SETTLE_SECONDS": "0.5",
    }
    cmd = [sys.executable, "-m", "atroposd", "--env-file", str(ws / ".env"), "run"]
    with (ws / "daemon.stderr").open("wb") as err:
        proc = subprocess.Popen(
            cmd, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
            preexec_fn=pin(CLIENT_CPU),
        )  # fmt: skip
        started = threading.Event()

        def read_log() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if '"daemon_started"' in line:
                    started.set()

        reader = threading.Thread(target=read_log, daemon=True)
        reader.start()
        try:
            if not started.wait(30):
                raise SystemExit(f"daemon did not start; see {ws / 'daemon.stderr'}")
            time.sleep(1.0)
            idle = proc_status(proc.pid)["VmHWM"]
            os.link(video, ws / "staged.mp4")  # same tmpfs: no second copy of the bytes
            start = time.monotonic()
            os.replace(ws / "staged.mp4", queue / "bench.mp4")
            (queue / "bench.txt").write_text("Bench upload\n\n#bench\n", encoding="utf-8")
            while not emulator.http.get("/_emulator/posts").json():
                if proc.poll() is not None or time.monotonic() - start > 600:
                    raise SystemExit(f"daemon did not post; see {ws / 'daemon.stderr'}")
                time.sleep(0.1)
            seconds = time.monotonic() - start
            peak = proc_status(proc.pid)["VmHWM"]
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            reader.join(5)
    return {"idle_kib": idle, "peak_kib": peak, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--youtube-chunk-mib", type=int, default=8)
    parser.add_argument("--snap-part-mib", type=int, default=32)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--no-daemon", action="store_true", help="skip the `atroposd run` part")
    args = parser.parse_args()
    size = args.size_mib * MIB
    work, where = pick_workdir(4 * size + 256 * MIB, args.workdir)
    try:
        print(f"scratch: {where}")
        video = work / "bench.mp4"
        digest = make_mp4(video, size)
        emulator = Emulator(work / "emulator", work / "emulator.log")
        try:
            rows = []
            for platform, chunk in (
                ("youtube", args.youtube_chunk_mib * MIB),
                ("snapchat", args.snap_part_mib * MIB),
            ):
                figures = run_child(platform, emulator.url, video, chunk)
                rows.append((platform, chunk, figures))
            posts = emulator.http.get("/_emulator/posts").json()
            daemon = []
            for platform in () if args.no_daemon else ("youtube", "snapchat"):
                figures = run_daemon(emulator, video, platform, work)
                [made] = emulator.http.get("/_emulator/posts").json()
                assert made["sha256"] == digest and made["bytes"] == size, made
                daemon.append((platform, figures))
        finally:
            emulator.proc.terminate()
            emulator.proc.wait(30)
        assert sorted(p["platform"] for p in posts) == ["snapchat", "youtube"], posts
        assert all(p["sha256"] == digest and p["bytes"] == size for p in posts), posts
        print(f"\n{args.size_mib} MiB file, one post each, sha256 checked on the emulator")
        print(f"{'platform':<10}{'request MiB':>12}{'idle MiB':>10}{'peak MiB':>10}"
              f"{'peak-idle':>11}{'seconds':>9}")  # fmt: skip
        deltas = {}
        for platform, chunk, f in rows:
            idle, peak = f["idle_kib"] / 1024, f["peak_kib"] / 1024
            deltas[platform] = peak - idle
            print(f"{platform:<10}{chunk / MIB:>12.0f}{idle:>10.1f}{peak:>10.1f}"
                  f"{peak - idle:>11.1f}{f['seconds']:>9.1f}")  # fmt: skip
        bound = max(64.0, deltas["youtube"])
        verdict = "within" if deltas["snapchat"] <= bound else "OVER"
        if daemon:
            print("\nthe daemon (`atroposd run`, one platform on, the clip dropped in its queue):")
            print(f"{'platform':<10}{'VmHWM idle':>12}{'VmHWM end':>11}{'added':>8}{'seconds':>9}")
            for platform, f in daemon:
                idle, peak = f["idle_kib"] / 1024, f["peak_kib"] / 1024
                print(f"{platform:<10}{idle:>12.1f}{peak:>11.1f}{peak - idle:>8.1f}"
                      f"{f['seconds']:>9.1f}")  # fmt: skip
        youtube = deltas["youtube"]
        print(f"snapchat peak-idle {deltas['snapchat']:.1f} MiB: {verdict} the bound "
              f"{bound:.0f} MiB (max of 64 MiB and YouTube's {youtube:.1f} MiB)")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
