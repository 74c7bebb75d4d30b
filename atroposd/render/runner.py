"""Run one ffmpeg command asynchronously into a file, safely (layer 1).

- ffmpeg writes to a hidden temp name in the output's folder (``.<stem>.<token>.part<suffix>``:
  a dot-name the watcher ignores), which is fsynced and renamed into place only when ffmpeg
  exited 0; on any failure or cancellation the temp file is removed. So no partial file is
  ever visible under the final name.
- ``-progress pipe:1`` is parsed into ``Progress(percent, speed, seconds)`` callbacks.
- ffmpeg runs in its own process group; cancelling the awaiting task (the daemon stopping)
  kills the whole group. On Linux the child also gets ``PR_SET_PDEATHSIG`` so a ``kill -9`` of
  the daemon takes ffmpeg with it.
- A failure raises ``RenderFailed`` (``EncoderUnavailable`` when the encoder could not be
  opened, ``OutputWriteFailed`` when the file could not be written: disk full, even when
  ffmpeg exits 0 having failed only at the trailer) with ffmpeg's last stderr lines.
- The child's environment is an allow-list (``child_env``): no token, key or secret reaches
  ffmpeg (``/proc/<pid>/environ`` is readable by the same user).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import re
import secrets
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from atroposd.render.errors import EncoderUnavailable, OutputWriteFailed, RenderFailed

STDERR_LINES = 20
_ENV_KEEP = ("PATH", "HOME", "LANG", "TZ", "TMPDIR", "XDG_RUNTIME_DIR", "LD_LIBRARY_PATH")
_ENV_PREFIXES = ("LC_", "LIBVA_", "CUDA_", "NVIDIA_", "FONTCONFIG_")
_ENCODER_OPEN = re.compile(
    r"Error while opening encoder|Could not open encoder|Cannot load|No NVENC capable|"
    r"Failed to initialise VAAPI|No VA display|Device creation failed|Unknown encoder|"
    r"Error initializing output stream",
    re.IGNORECASE,
)
# The output could not be written (ffmpeg 5.x exits 0 when this hits the trailer).
_WRITE_FAILED = re.compile(
    r"Error writing trailer|Error closing file|No space left on device|Disk quota exceeded|"
    r"Input/output error|Could not write header",
    re.IGNORECASE,
)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Progress:
    """Where an ffmpeg run is: ``seconds`` of output written, ``percent`` of the expected
    duration (None when unknown), ``speed`` as a multiple of real time (None before known)."""

    seconds: float
    percent: float | None
    speed: float | None
    done: bool = False


ProgressCallback = Callable[[Progress], None]


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for ffmpeg/ffprobe: only locale, paths and GPU driver variables."""
    source = os.environ if env is None else env
    return {k: v for k, v in source.items() if k in _ENV_KEEP or k.startswith(_ENV_PREFIXES)}


def temp_path(output: Path) -> Path:
    """A fresh hidden temp name beside ``output`` that keeps its suffix (ffmpeg's muxer)."""
    token = secrets.token_hex(4)
    return output.with_name(f".{output.stem}.{token}.part{output.suffix}")


def stale_temps(output: Path) -> list[Path]:
    """Temp files a killed run left for ``output`` (removed by the next run)."""
    folder = output.parent
    if not folder.is_dir():
        return []
    pattern = f".{output.stem}.*.part{output.suffix}"
    return sorted(folder.glob(pattern))


def _pdeathsig() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGKILL the child when the daemon dies."""
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    prctl = ctypes.CDLL(name, use_errno=True).prctl  # resolved before fork

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)

    return hook


_PREEXEC = _pdeathsig()


def parse_progress(block: Mapping[str, str], duration: float | None) -> Progress:
    """One ``-progress`` block (key=value lines up to ``progress=``) as a ``Progress``."""
    seconds = 0.0
    raw = block.get("out_time_us") or block.get("out_time_ms")  # both are microseconds
    if raw and raw.lstrip("-").isdigit():
        seconds = max(0.0, int(raw) / 1_000_000)
    speed: float | None = None
    text = block.get("speed", "").strip().rstrip("x")
    with contextlib.suppress(ValueError):
        speed = float(text) if text and text != "N/A" else None
    done = block.get("progress") == "end"
    percent: float | None = None
    if duration and duration > 0:
        percent = 100.0 if done else min(100.0, 100.0 * seconds / duration)
    return Progress(seconds, percent, speed, done)


async def _read_progress(
    stream: asyncio.StreamReader, duration: float | None, on_progress: ProgressCallback | None
) -> None:
    block: dict[str, str] = {}
    async for raw in stream:
        key, _, value = raw.decode("utf-8", "replace").strip().partition("=")
        block[key] = value
        if key == "progress":
            if on_progress is not None:
                on_progress(parse_progress(block, duration))
            block = {}


async def _read_stderr(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    async for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _publish(temp: Path, output: Path) -> None:
    """fsync the finished temp file, rename it into place, fsync the folder."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, output)
    dfd = os.open(output.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _cleanup(paths: Sequence[Path]) -> None:
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _check_finished(code: int, lines: tuple[str, ...], temp: Path, output: Path) -> None:
    """Raise (temp removed) unless ffmpeg exited 0 having written the whole file."""
    if code == 0 and not any(_WRITE_FAILED.search(x) for x in lines):
        return
    _cleanup([temp])
    if any(_WRITE_FAILED.search(x) for x in lines):
        msg = f"could not write {output.name} in {output.parent} (ffmpeg exited with {code})"
        raise OutputWriteFailed(msg, returncode=code, stderr=lines)
    kind = EncoderUnavailable if any(_ENCODER_OPEN.search(x) for x in lines) else RenderFailed
    raise kind(f"ffmpeg exited with {code}", returncode=code, stderr=lines)


async def run_ffmpeg(
    args: Sequence[str],
    output: Path,
    *,
    duration: float | None = None,
    on_progress: ProgressCallback | None = None,
    ffmpeg: str = "ffmpeg",
    env: Mapping[str, str] | None = None,
) -> Path:
    """Run ``ffmpeg <args> <temp>`` and rename the temp file to ``output`` on success.

    ``args`` are everything but the output file (inputs, filters, codecs, ``-f`` if the
    suffix does not name the muxer). ``duration`` (seconds of output expected) turns progress
    into a percentage. Raises ``RenderFailed``/``EncoderUnavailable``; cancelling kills ffmpeg.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(_cleanup, stale_temps(output))
    temp = temp_path(output)
    command = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    command += ["-progress", "pipe:1", *args, "-y", str(temp)]
    tail: deque[str] = deque(maxlen=STDERR_LINES)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_env(env),
            start_new_session=True,
            preexec_fn=_PREEXEC,
        )
    except FileNotFoundError:
        msg = f"{ffmpeg} not found (install ffmpeg)"
        raise RenderFailed(msg, returncode=None, stderr=()) from None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        await asyncio.gather(
            _read_progress(proc.stdout, duration, on_progress), _read_stderr(proc.stderr, tail)
        )
        code = await proc.wait()
    except BaseException:
        _kill_group(proc)
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        _cleanup([temp])
        raise
    _check_finished(code, tuple(tail), temp, output)
    try:
        await asyncio.to_thread(_publish, temp, output)
    except BaseException:
        _cleanup([temp])
        raise
    return output
