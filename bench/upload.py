"""Upload benchmark: YouTubeProvider vs ``curl --upload-file`` against the emulator.

    python bench/upload.py [--size-mib 1024] [--chunk-mib 8 64] [--runs 3] [--quick]

Three parts, each printed next to a baseline measured in the same run:

1. Throughput: the emulator runs in its own process; ``curl --upload-file`` (one PUT to a
   resumable session) and ``YouTubeProvider.upload`` (one fresh child process per run, for each
   chunk size) alternate; medians in MB/s (10^6 B/s) and the ratio ours/curl.
2. Client peak RSS: every provider upload runs in a fresh child (``--child``) that reports its
   VmRSS after imports (idle) and its VmHWM over the upload (reset via /proc/self/clear_refs).
3. The full daemon (``atroposd run``): VmRSS sampled every 50 ms while idle and while it
   ingests and uploads a structurally valid MP4 of --size-mib dropped into its queue.

Every upload's SHA-256 in ``/_emulator/posts`` is checked against the file's.
Nothing is written outside a scratch dir (on /dev/shm when it has room), removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
MB = 1_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
ACCOUNT = "bench"
REFRESH_TOKEN = "sandbox:bench:x"
META = {"snippet": {"title": "bench", "description": ""}, "status": {"privacyStatus": "private"}}


# -- small helpers --------------------------------------------------------------------------


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """The ``Vm*`` lines of /proc/<pid>/status in KiB."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("Vm"):
                name, _, value = line.partition(":")
                out[name] = int(value.split()[0])
    return out


def proc_cpu(pid: int) -> float:
    """utime + stime of a live process in seconds."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def reset_hwm() -> bool:
    """Reset this process's VmHWM to its current RSS ("5" > clear_refs, Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SERVER_CPU, CLIENT_CPU = 0, 1  # with 2+ CPUs: the emulator and the client never share a core


PINNING = (os.cpu_count() or 1) >= 2 and "--no-pin" not in sys.argv


def pin(cpu: int) -> Callable[[], None] | None:
    """A preexec_fn pinning a child to ``cpu`` (None when not pinning)."""
    if not PINNING:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def child_env() -> dict[str, str]:
    """The environment for our subprocesses: the repo importable, no stray atroposd settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATROPOS", "SANDBOX"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait4(proc: subprocess.Popen[Any]) -> tuple[int, resource.struct_rusage]:
    """Reap ``proc`` and return its exit code and rusage (ru_maxrss, CPU)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


def make_mp4(path: Path, size: int) -> str:
    """Write a structurally valid MP4 of exactly ``size`` bytes (random mdat); return its sha256.

    Layout: ``ftyp`` (24 B), ``moov`` (16 B, holding an empty ``free`` box), then an ``mdat``
    with a 64-bit size covering the random payload. The top-level boxes tile the file, which
    is what atroposd's completeness check (``watch/mp4.py``) requires.
    """
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"isom", 0x200, b"isom", b"mp42")
    moov = struct.pack(">I4sI4s", 16, b"moov", 8, b"free")
    payload = size - len(ftyp) - len(moov) - 16
    if payload <= 0:
        raise ValueError("file too small")
    mdat = struct.pack(">I4sQ", 1, b"mdat", payload + 16)
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for part in (ftyp, moov, mdat):
            handle.write(part)
            digest.update(part)
        left = payload
        while left:
            piece = os.urandom(min(16 * MIB, left))
            handle.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def pick_workdir(need: int, where: str | None) -> tuple[Path, str]:
    """A scratch dir on /dev/shm (tmpfs) when it has room for ``need`` bytes, else $TMPDIR."""
    candidates = [where] if where else ["/dev/shm", None]
    for base in candidates:
        if base is not None and (not os.path.isdir(base) or shutil.disk_usage(base).free < need):
            continue
        path = Path(tempfile.mkdtemp(prefix="atroposd-bench-", dir=base))
        fstype = "tmpfs" if base == "/dev/shm" else fs_type(path)
        return path, f"{path} ({fstype})"
    raise SystemExit(f"no scratch dir with {need / MIB:.0f} MiB free")


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    with open("/proc/mounts") as handle:
        for line in handle:
            _, mount, fstype, *_ = line.split()
            if str(path).startswith(mount) and len(mount) > len(best):
                best, kind = mount, fstype
    return kind


# -- the emulator in its own process ---------------------------------------------------------


class Emulator:
    """``python -m atroposd.emulator`` as a child process, plus a control client."""

    def __init__(self, storage: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log_path.open("wb")
        cmd = [sys.executable, "-m", "atroposd.emulator", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--storage-dir", str(storage)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=child_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin(SERVER_CPU),
        )
        self.http = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 20
        while True:
            try:
                self.http.get("/_emulator/health").raise_for_status()
                break
            except httpx.HTTPError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"emulator did not start; see {log_path}") from None
                time.sleep(0.05)

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid)

    def reset(self) -> None:
        self.http.post("/_emulator/reset").raise_for_status()

    def posts(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_emulator/posts").raise_for_status().json())

    def session(self, size: int) -> tuple[str, str]:
        """(access token, session URI) obtained exactly as YouTubeProvider does."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": "a",
            "client_secret": "b",
        }
        token = self.http.post("/youtube/token", data=form).raise_for_status().json()
        access = str(token["access_token"])
        resp = self.http.post(
            "/youtube/upload/youtube/v3/videos",
            params={"uploadType": "resumable", "part": "snippet,status"},
            headers={
                "Authorization": f"Bearer {access}",
                "X-Upload-Content-Length": str(size),
                "X-Upload-Content-Type": "video/mp4",
            },
            json=META,
        ).raise_for_status()
        return access, resp.headers["location"]

    def check(self, remote_id: str, size: int, sha: str) -> None:
        """The one post must be ``remote_id`` with the file's bytes and sha256."""
        posts = self.posts()
        match = [p for p in posts if p["id"] == remote_id]
        if len(match) != 1 or match[0]["sha256"] != sha or match[0]["bytes"] != size:
            raise SystemExit(f"upload {remote_id} does not match the file: {posts}")

    def close(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


# -- one upload ------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured upload."""

    variant: str
    size: int
    seconds: float
    client_cpu: float  # CPU of the transfer (curl: whole process; ours: the upload() call)
    server_cpu: float  # emulator CPU during the transfer
    maxrss_kib: int  # curl: its max RSS (GNU time); ours: ru_maxrss (inflated by the fork)
    idle_kib: int = 0  # ours: VmRSS after imports + client set-up, just before upload()
    hwm_kib: int = 0  # ours: VmHWM over the upload() call alone
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mbps(self) -> float:
        return self.size / self.seconds / MB


def run_curl(emu: Emulator, path: Path, size: int, sha: str, scratch: Path) -> Run:
    """One ``curl --upload-file`` PUT of the whole file to a fresh resumable session."""
    emu.reset()
    access, uri = emu.session(size)
    body, meta, rss = scratch / "curl.body", scratch / "curl.out", scratch / "curl.rss"
    cmd = ["curl", "-sS", "-o", str(body), "-w", "%{http_code} %{time_total}", "--upload-file"]
    cmd += [str(path), "-H", f"Authorization: Bearer {access}", "-H", "Content-Type: video/mp4"]
    # ru_maxrss of a process Python spawns includes Python's own RSS from before the exec, so
    # curl's peak comes from GNU time (curl is forked from the small `time` process instead).
    timer = ["/usr/bin/time", "-f", "%M", "-o", str(rss)] if os.path.exists("/usr/bin/time") else []
    with meta.open("wb") as out:
        cpu0 = emu.cpu()
        proc = subprocess.Popen([*timer, *cmd, uri], stdout=out, preexec_fn=pin(CLIENT_CPU))
        code, usage = wait4(proc)  # CPU includes the reaped curl
        server_cpu = emu.cpu() - cpu0
    status, seconds = meta.read_text().split()
    if code != 0 or status not in ("200", "201"):
        raise SystemExit(f"curl failed: rc={code} http={status} {body.read_text()[:300]}")
    emu.check(str(json.loads(body.read_text())["id"]), size, sha)
    cpu = usage.ru_utime + usage.ru_stime
    maxrss = int(rss.read_text().split()[-1]) if timer else 0
    return Run("curl", size, float(seconds), cpu, server_cpu, maxrss)


def run_ours(emu: Emulator, path: Path, size: int, sha: str, chunk_mib: int) -> Run:
    """``YouTubeProvider.upload`` in a fresh ``--child`` process."""
    emu.reset()
    cmd = [sys.executable, __file__, "--child", "--url", emu.url, "--file", str(path)]
    cmd += ["--chunk-mib", str(chunk_mib)]
    cpu0 = emu.cpu()
    proc = subprocess.Popen(
        cmd, env=child_env(), stdout=subprocess.PIPE, preexec_fn=pin(CLIENT_CPU)
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    code, usage = wait4(proc)
    server_cpu = emu.cpu() - cpu0  # includes the child's start-up, which costs the server ~0
    if code != 0:
        raise SystemExit(f"child upload failed (rc={code}): {out.decode(errors='replace')}")
    rep = json.loads(out.decode().strip().splitlines()[-1])
    emu.check(rep["remote_id"], size, sha)
    return Run(
        f"ours {chunk_mib} MiB",
        size,
        rep["seconds"],
        rep["cpu"],
        server_cpu,
        usage.ru_maxrss,
        idle_kib=rep["idle_kib"],
        hwm_kib=rep["hwm_kib"],
        extra={"hwm_reset": rep["hwm_reset"], "rss_after_kib": rep["rss_after_kib"]},
    )


# -- the --child side ----------------------------------------------------------------------


def bench_provider(http: httpx.AsyncClient, url: str, chunk: int) -> Any:
    """The real ``YouTubeProvider`` against ``url``, with one sandbox login held in memory."""
    from atroposd.clock import SystemClock
    from atroposd.providers.base import Credentials
    from atroposd.providers.youtube import YouTubeEndpoints, YouTubeProvider

    class MemoryStore:
        """A CredentialStore holding one sandbox refresh token."""

        def __init__(self) -> None:
            self._creds: dict[tuple[str, str], Credentials] = {}

        def load(self, account: str, platform: str) -> Credentials:
            default = Credentials(access_token="", refresh_token=REFRESH_TOKEN)
            return self._creds.get((account, platform), default)

        def save(self, account: str, platform: str, creds: Credentials) -> None:
            self._creds[(account, platform)] = creds

    endpoints = YouTubeEndpoints.sandbox(url)
    return YouTubeProvider(http, endpoints, MemoryStore(), "a", "b", SystemClock(), chunk)


def bench_request(path: Path, size: int, title: str = "bench") -> Any:
    """A private upload of ``path`` for the bench account."""
    from atroposd.providers.base import UploadRequest

    return UploadRequest(
        account=ACCOUNT,
        path=path,
        size=size,
        sha256="",
        title=title,
        description="",
        privacy="private",
    )


async def no_save(ref: Any) -> None:
    """``save_ref`` for uploads nobody resumes."""
    return None


CLIENT_TIMEOUT = httpx.Timeout(30.0, read=120.0, write=120.0)  # as atroposd.app builds it


WARM_BYTES = 16 * MIB


def child_main(url: str, path: Path, chunk: int) -> None:
    """Upload ``path`` once with the real provider; print one JSON line of figures."""
    size = path.stat().st_size

    async def upload() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT, follow_redirects=False) as http:
            provider = bench_provider(http, url, chunk)
            request = bench_request(path, size)
            # Warm up like a daemon that has been running: connection, allocator, code paths.
            warm = path.with_name("warm-up.bin")
            if not warm.exists():
                warm.write_bytes(os.urandom(WARM_BYTES))
            await provider.upload(bench_request(warm, WARM_BYTES, "warm-up"), None, no_save)
            idle = proc_status()["VmRSS"]
            reset = reset_hwm()
            cpu0 = time.process_time()
            t0 = time.perf_counter()
            result = await provider.upload(request, None, no_save)
            seconds = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            status = proc_status()
            return {
                "remote_id": result.remote_id,
                "seconds": seconds,
                "cpu": cpu,
                "idle_kib": idle,
                "hwm_kib": status["VmHWM"],
                "rss_after_kib": status["VmRSS"],
                "hwm_reset": reset,
            }

    print(json.dumps(asyncio.run(upload())), flush=True)


# -- warm, in one process -------------------------------------------------------------------


def warm_ab(emu: Emulator, path: Path, size: int, sha: str, chunk: int, runs: int) -> str:
    """curl and ``YouTubeProvider.upload`` alternating from this one warm process."""

    async def ours() -> float:
        async with httpx.AsyncClient(timeout=CLIENT_TIMEOUT) as http:
            provider = bench_provider(http, emu.url, chunk)
            t0 = time.perf_counter()
            result = await provider.upload(bench_request(path, size), None, no_save)
            seconds = time.perf_counter() - t0
        emu.check(result.remote_id, size, sha)
        return size / seconds / MB

    def curl() -> float:
        access, uri = emu.session(size)
        t0 = time.perf_counter()
        cmd = [
            "curl",
            "-sS",
            "-o",
            os.devnull,
            "--upload-file",
            str(path),
            "-H",
            f"Authorization: Bearer {access}",
            uri,
        ]
        subprocess.run(cmd, check=True, preexec_fn=pin(CLIENT_CPU))
        return size / (time.perf_counter() - t0) / MB

    if PINNING:
        os.sched_setaffinity(0, {CLIENT_CPU})
    got: dict[str, list[float]] = {"curl": [], "ours": []}
    for _ in range(runs):
        emu.reset()
        got["curl"].append(curl())
        emu.reset()
        got["ours"].append(asyncio.run(ours()))
    c, o = statistics.median(got["curl"]), statistics.median(got["ours"])
    return (
        f"warm, one process, {runs} alternating runs, {chunk // MIB} MiB chunks: "
        f"ours {o:.0f} MB/s vs curl {c:.0f} MB/s = {o / c:.2f}x"
    )


# -- the full daemon -----------------------------------------------------------------------


@dataclass
class DaemonRun:
    chunk_mib: int
    size: int
    idle_kib: list[int]
    busy_kib: list[int]
    hwm_idle_kib: int
    hwm_end_kib: int
    marks: dict[str, float]  # event -> seconds after the drop


def run_daemon(
    emu: Emulator, mp4: Path, size: int, sha: str, chunk_mib: int, root: Path, idle_s: float
) -> DaemonRun:
    """``atroposd run`` against the emulator; sample its VmRSS idle and over one upload."""
    emu.reset()
    ws = root / f"daemon-{size // MIB}m-{chunk_mib}"
    queue = ws / "upload_queue"
    queue.mkdir(parents=True)
    config = ws / "upload_config.json"
    shutil.copyfile(REPO / "upload_config.example.json", config)
    env = child_env()
    env.update(
        {
            "ENVIRONMENT": "sandbox",
            "SANDBOX_URL": emu.url,
            "UPLOAD_FOLDER": str(queue),
            "OUT_ROOT": str(ws / "out"),
            "STATE_DIR": str(ws / "state"),
            "TOKENS_DIR": str(ws / "tokens"),
            "ARCHIVE_DIR": str(ws / "posted"),
            "UPLOAD_CONFIG": str(config),
            "SETTLE_SECONDS": "0.5",
            "UPLOAD_CHUNK_BYTES": str(chunk_mib * MIB),
        }
    )
    cmd = [sys.executable, "-m", "atroposd", "--env-file", str(ws / ".env"), "run"]
    err = (ws / "daemon.stderr").open("wb")
    proc = subprocess.Popen(
        cmd,
        cwd=ws,
        env=env,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        preexec_fn=pin(CLIENT_CPU),
    )
    events: dict[str, float] = {}
    started = threading.Event()

    def read_log() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                name = str(json.loads(line).get("event"))
            except (json.JSONDecodeError, AttributeError):
                continue
            events.setdefault(name, time.monotonic())
            if name == "daemon_started":
                started.set()

    samples: list[tuple[float, int]] = []
    stop_sampling = threading.Event()

    def sample() -> None:
        while not stop_sampling.wait(0.05):
            try:
                samples.append((time.monotonic(), proc_status(proc.pid)["VmRSS"]))
            except (OSError, KeyError):
                return

    reader = threading.Thread(target=read_log, daemon=True)
    sampler = threading.Thread(target=sample, daemon=True)
    reader.start()
    sampler.start()
    try:
        if not started.wait(30):
            raise SystemExit(f"daemon did not start; see {ws / 'daemon.stderr'}")
        time.sleep(idle_s)
        hwm_idle = proc_status(proc.pid)["VmHWM"]
        staged = ws / "staging.mp4"
        os.link(mp4, staged)  # same tmpfs: no second copy of the bytes
        t_drop = time.monotonic()
        os.replace(staged, queue / "bench.mp4")
        (queue / "bench.txt").write_text("Bench upload\n\n#bench\n", encoding="utf-8")
        deadline = t_drop + 300
        while not emu.posts():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon upload did not finish; see {ws / 'daemon.stderr'}")
            time.sleep(0.1)
        t_post = time.monotonic()
        time.sleep(0.3)
        hwm_end = proc_status(proc.pid)["VmHWM"]
        posts = emu.posts()
        if len(posts) != 1 or posts[0]["sha256"] != sha or posts[0]["bytes"] != size:
            raise SystemExit(f"daemon upload does not match the file: {posts}")
    finally:
        stop_sampling.set()
        sampler.join(5)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        reader.join(5)
        err.close()
    marks = {k: v - t_drop for k, v in events.items() if v >= t_drop}
    marks["post visible"] = t_post - t_drop
    return DaemonRun(
        chunk_mib,
        size,
        idle_kib=[kib for t, kib in samples if t < t_drop],
        busy_kib=[kib for t, kib in samples if t_drop <= t <= t_post],
        hwm_idle_kib=hwm_idle,
        hwm_end_kib=hwm_end,
        marks=marks,
    )


# -- report ------------------------------------------------------------------------------


def mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), line, *(fmt.format(*r) for r in rows)])


def curl_median(runs: list[Run]) -> float:
    return statistics.median(r.mbps for r in runs if r.variant == "curl")


DEFAULT_VARIANT = "ours 8 MiB"  # UPLOAD_CHUNK_BYTES' default


def verdicts(runs: list[Run], rss_runs: list[Run]) -> list[str]:
    """One line per target: ours >= 0.9x curl; peak - idle <= 64 MiB at every size/chunk."""
    curl = curl_median(runs)
    ratios = {
        v: statistics.median(r.mbps for r in runs if r.variant == v) / curl
        for v in {r.variant for r in runs if r.variant != "curl"}
    }
    name = DEFAULT_VARIANT if DEFAULT_VARIANT in ratios else min(ratios, key=ratios.__getitem__)
    others = ", ".join(f"{v} {x:.2f}x" for v, x in sorted(ratios.items()) if v != name)
    ours = [r for r in rss_runs if r.variant != "curl"]
    deltas = [(r.hwm_kib - r.idle_kib) / 1024 for r in ours]
    return [
        f"throughput: {name} (the default) / curl = {ratios[name]:.2f}x (target >= 0.9x): "
        + ("PASS" if ratios[name] >= 0.9 else "MISS")
        + (f"; also {others}" if others else ""),
        f"client RSS: peak-idle {min(deltas):.1f}-{max(deltas):.1f} MiB over "
        f"{len({r.size for r in ours})} sizes x {len({r.variant for r in ours})} chunk sizes "
        "(target <= 64 MiB, flat): " + ("PASS" if max(deltas) <= 64 else "MISS"),
    ]


def daemon_verdict(runs: list[DaemonRun]) -> str:
    """The daemon's peak over its idle RSS, across file and chunk sizes (target <= 64 MiB)."""
    deltas = [
        (max(d.busy_kib) - statistics.median(d.idle_kib)) / 1024
        for d in runs
        if d.busy_kib and d.idle_kib
    ]
    if not deltas:
        return "daemon RSS: no samples"
    return (
        f"daemon RSS: peak-idle {min(deltas):.1f}-{max(deltas):.1f} MiB over "
        f"{len({d.size for d in runs})} file sizes x {len({d.chunk_mib for d in runs})} chunk "
        "sizes (target <= 64 MiB, flat): " + ("PASS" if max(deltas) <= 64 else "MISS")
    )


def report_throughput(runs: list[Run], size_mib: int) -> str:
    variants = list(dict.fromkeys(r.variant for r in runs))
    curl = curl_median(runs)
    rows = []
    for name in variants:
        mine = [r for r in runs if r.variant == name]
        med = statistics.median(r.mbps for r in mine)
        rows.append(
            [
                name,
                f"{med:.0f}",
                f"{min(r.mbps for r in mine):.0f}-{max(r.mbps for r in mine):.0f}",
                f"{med / curl:.2f}x",
                f"{statistics.median(r.client_cpu for r in mine):.2f}",
                f"{statistics.median(r.server_cpu for r in mine):.2f}",
                f"{statistics.median(r.seconds for r in mine):.2f}",
                str(len(mine)),
            ]
        )
    head = [
        f"{size_mib} MiB upload",
        "MB/s med",
        "min-max",
        "vs curl",
        "client CPU s",
        "server CPU s",
        "wall s",
        "n",
    ]
    return table(head, rows)


def report_rss(runs: list[Run]) -> str:
    rows = []
    keys = list(dict.fromkeys((r.size, r.variant) for r in runs))
    for size, name in sorted(keys, key=lambda k: (k[0], k[1] != "curl", k[1])):
        mine = [r for r in runs if r.size == size and r.variant == name]
        if name == "curl":
            curl_peak = mib(max(r.maxrss_kib for r in mine)) if mine[0].maxrss_kib else "n/a"
            rows.append([f"{size // MIB} MiB", name, "-", curl_peak, "-"])
            continue
        idle = max(r.idle_kib for r in mine)
        peak = max(r.hwm_kib for r in mine)
        delta = max(r.hwm_kib - r.idle_kib for r in mine)
        rows.append([f"{size // MIB} MiB", name, mib(idle), mib(peak), f"+{mib(delta)}"])
    head = ["file", "client", "idle RSS MiB", "peak RSS MiB", "peak-idle MiB"]
    return table(head, rows)


def report_daemon(runs: list[DaemonRun]) -> str:
    rows = []
    for d in runs:
        idle = statistics.median(d.idle_kib) if d.idle_kib else 0
        busy = max(d.busy_kib) if d.busy_kib else 0
        m = d.marks
        ready, plan, done = (m.get(k, 0.0) for k in ("watch_clip_ready", "PLAN", "post visible"))
        rows.append(
            [
                f"{d.size // MIB} MiB / {d.chunk_mib} MiB",
                mib(idle),
                mib(busy),
                f"+{mib(busy - idle)}",
                f"{mib(d.hwm_idle_kib)}/{mib(d.hwm_end_kib)}",
                f"{ready:.1f}/{plan:.1f}/{done:.1f}",
                f"{d.size / (done - plan) / MB:.0f}" if done > plan > 0 else "?",
            ]
        )
    head = [
        "daemon: file / chunk",
        "idle RSS MiB",
        "peak RSS MiB",
        "peak-idle",
        "VmHWM idle/end",
        "ready/PLAN/post s",
        "upload MB/s",
    ]
    return table(head, rows)


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=None, help="throughput file (1024)")
    parser.add_argument("--chunk-mib", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--runs", type=int, default=5, help="runs per variant (5)")
    parser.add_argument(
        "--rss-size-mib", type=int, nargs="*", default=None, help="extra RSS sizes (256)"
    )
    parser.add_argument(
        "--daemon-size-mib",
        type=int,
        nargs="*",
        default=None,
        help="daemon file sizes (the --size-mib and the RSS sizes); 0 or none skips the daemon",
    )
    parser.add_argument("--idle-seconds", type=float, default=2.0, help="daemon idle sampling")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 256 MiB, 64 MiB extra")
    parser.add_argument("--scratch", default=None, help="scratch base dir (/dev/shm if room)")
    parser.add_argument("--no-pin", action="store_true", help="let the OS place processes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    default_size, default_rss = (256, [64]) if args.quick else (1024, [256])
    args.size_mib = args.size_mib or default_size
    args.rss_size_mib = default_rss if args.rss_size_mib is None else args.rss_size_mib
    if args.daemon_size_mib is None:
        args.daemon_size_mib = [*args.rss_size_mib, args.size_mib]
    args.daemon_size_mib = [m for m in args.daemon_size_mib if m > 0]
    if args.quick:
        args.idle_seconds = min(args.idle_seconds, 1.0)
    for value in args.chunk_mib:
        if value <= 0 or (value * MIB) % (256 * 1024):
            parser.error("--chunk-mib values must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child_main(args.url, args.file, args.chunk_mib[0] * MIB)
        return
    if shutil.which("curl") is None:
        raise SystemExit("curl is required for the baseline")
    began = time.monotonic()
    size = args.size_mib * MIB
    rss_sizes = [s * MIB for s in args.rss_size_mib if s != args.size_mib]
    need = 2 * max([size, *rss_sizes]) + sum(rss_sizes) + size + 256 * MIB
    root, where = pick_workdir(need, args.scratch)
    emu: Emulator | None = None
    try:
        files: dict[int, tuple[Path, str]] = {}
        for nbytes in dict.fromkeys([size, *rss_sizes]):
            path = root / f"test-{nbytes // MIB}m.mp4"
            files[nbytes] = (path, make_mp4(path, nbytes))
        print(f"scratch (test files + emulator storage): {where}", flush=True)
        emu = Emulator(root / "emulator", root / "emulator.log")
        path, sha = files[size]
        variants: list[int | None] = [None, *args.chunk_mib]  # None = curl
        run_curl(emu, path, size, sha, root)  # warm-up (page cache, tmpfs, emulator), not counted
        run_ours(emu, path, size, sha, args.chunk_mib[0])
        runs: list[Run] = []
        for i in range(args.runs):
            shift = i % len(variants)  # rotate the order so drift hits every variant alike
            for chunk in variants[shift:] + variants[:shift]:
                if chunk is None:
                    run = run_curl(emu, path, size, sha, root)
                else:
                    run = run_ours(emu, path, size, sha, chunk)
                runs.append(run)
                print(f"  run {i + 1}: {run.variant:<12} {run.mbps:7.0f} MB/s", flush=True)
        warm = warm_ab(emu, path, size, sha, args.chunk_mib[0] * MIB, args.runs)
        rss_runs = list(runs)
        for nbytes in rss_sizes:
            small, small_sha = files[nbytes]
            rss_runs.append(run_curl(emu, small, nbytes, small_sha, root))
            for chunk in args.chunk_mib:
                rss_runs.append(run_ours(emu, small, nbytes, small_sha, chunk))
        daemon_runs: list[DaemonRun] = []
        for daemon_mib in args.daemon_size_mib:
            dsize = daemon_mib * MIB
            if dsize not in files:
                dpath = root / f"test-{daemon_mib}m.mp4"
                files[dsize] = (dpath, make_mp4(dpath, dsize))
            dpath, dsha = files[dsize]
            for chunk in args.chunk_mib:
                daemon_runs.append(
                    run_daemon(emu, dpath, dsize, dsha, chunk, root, args.idle_seconds)
                )
                print(f"  daemon {daemon_mib} MiB, {chunk} MiB chunks: done", flush=True)
    finally:
        if emu is not None:
            emu.close()
        shutil.rmtree(root, ignore_errors=True)

    print()
    print(f"atroposd upload benchmark: python {sys.version.split()[0]}, httpx {httpx.__version__}")
    placement = "emulator on CPU 0, clients on CPU 1" if PINNING else "OS placement (--no-pin)"
    print(f"{os.cpu_count()} CPUs; emulator in its own process; {placement}; scratch on {where}")
    print("every upload's sha256 in /_emulator/posts matched the file")
    print()
    print("1. Throughput (MB = 10^6 B; curl: one PUT; ours: YouTubeProvider.upload in a child)")
    print(report_throughput(runs, args.size_mib))
    print()
    print("2. Client peak RSS (ours: VmRSS just before upload() vs VmHWM over it; curl: maxrss)")
    print(report_rss(rss_runs))
    if daemon_runs:
        print()
        print("3. Daemon `atroposd run` (VmRSS every 50 ms; idle = median before the drop)")
        print(report_daemon(daemon_runs))
        print("   (s after the drop: ready = settled, PLAN = hashed, post = in the emulator;")
        print("    upload MB/s = size / (post - PLAN), one run each, incl. token + session)")
    print()
    print(warm)
    for line in verdicts(runs, rss_runs):
        print(line)
    if daemon_runs:
        print(daemon_verdict(daemon_runs))
    print()
    print(f"total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
