"""The ffmpeg runner: temp name then rename, progress, typed failure, kill on cancel, no secrets."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from atroposd.render.errors import EncoderUnavailable, OutputWriteFailed, RenderFailed
from atroposd.render.runner import Progress, child_env, parse_progress, run_ffmpeg

LAVFI = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10:duration=1"]
ENCODE = ["-c:v", "libx264", "-preset", "ultrafast", "-f", "mp4"]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_renders_to_the_final_name_with_progress(tmp_path: Path) -> None:
    seen: list[Progress] = []
    out = tmp_path / "a.mp4"
    asyncio.run(run_ffmpeg([*LAVFI, *ENCODE], out, duration=1.0, on_progress=seen.append))
    assert _files(tmp_path) == ["a.mp4"]
    assert out.stat().st_size > 0
    assert seen and seen[-1].done and seen[-1].percent == 100.0
    assert all(p.percent is not None and 0 <= p.percent <= 100 for p in seen)


def test_failure_raises_with_stderr_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "b.mp4"
    with pytest.raises(RenderFailed) as err:
        asyncio.run(run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), *ENCODE], out))
    assert "missing.mp4" in str(err.value)
    assert err.value.returncode != 0
    assert _files(tmp_path) == []


def test_an_encoder_that_cannot_open_is_typed(tmp_path: Path) -> None:
    args = [*LAVFI, "-c:v", "libx264", "-profile:v", "nonsense", "-f", "mp4"]
    with pytest.raises(EncoderUnavailable):
        asyncio.run(run_ffmpeg(args, tmp_path / "c.mp4"))
    assert _files(tmp_path) == []


def test_cancel_kills_ffmpeg_and_removes_the_temp(tmp_path: Path) -> None:
    out = tmp_path / "d.mp4"
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", *ENCODE]
    temps: list[str] = []

    async def main() -> None:
        started = asyncio.Event()

        def seen(_: Progress) -> None:  # ffmpeg is running and writing once it reports progress
            temps.extend(n for n in os.listdir(tmp_path) if n.startswith(".d."))
            started.set()

        task = asyncio.create_task(run_ffmpeg(endless, out, on_progress=seen))
        await asyncio.wait_for(started.wait(), 60)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert temps
    assert _files(tmp_path) == []
    assert not _ffmpeg_writing(tmp_path)


def _ffmpeg_writing(folder: Path) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if str(folder).encode() in cmd and b"ffmpeg" in cmd:
            return True
    return False


def test_stale_temps_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / ".e.dead.part.mp4"
    stale.write_bytes(b"partial")
    asyncio.run(run_ffmpeg([*LAVFI, *ENCODE], tmp_path / "e.mp4"))
    assert _files(tmp_path) == ["e.mp4"]


def test_child_env_keeps_no_secret() -> None:
    env = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "TOKEN_FERNET_KEY": "k",
        "YOUTUBE_CLIENT_SECRET": "s",
        "API_TOKEN": "t",
        "LIBVA_DRIVER_NAME": "iHD",
    }
    assert child_env(env) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C",
        "LIBVA_DRIVER_NAME": "iHD",
    }


def test_progress_block_parsing() -> None:
    p = parse_progress({"out_time_us": "1500000", "speed": "2.5x", "progress": "continue"}, 3.0)
    assert p == Progress(1.5, 50.0, 2.5, False)
    assert parse_progress({"out_time_us": "N/A", "speed": "N/A"}, None) == Progress(
        0.0, None, None, False
    )


def test_missing_ffmpeg_is_a_render_failure(tmp_path: Path) -> None:
    with pytest.raises(RenderFailed, match="not found"):
        asyncio.run(run_ffmpeg(LAVFI, tmp_path / "f.mp4", ffmpeg=str(tmp_path / "no-ffmpeg")))
    assert _files(tmp_path) == []


def _full_disk_ffmpeg(folder: Path) -> str:
    """ffmpeg 5.x on a full disk: the real ffmpeg writes, the file ends cut short (no trailer),
    stderr says so, and the exit code is 0 (Debian 12's ffmpeg does exactly this on ENOSPC)."""
    script = folder / "ffmpeg-on-a-full-disk"
    script.write_text(
        "#!/bin/sh\n"
        'ffmpeg "$@" || exit $?\n'
        "for last; do :; done\n"
        'truncate -s 2048 "$last"\n'
        'echo "[out#0/mp4] Error writing trailer of $last: No space left on device" >&2\n'
        'echo "Error closing file $last: No space left on device" >&2\n'
        "exit 0\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script)


def test_a_full_disk_is_a_write_failure_even_when_ffmpeg_exits_0(tmp_path: Path) -> None:
    """Nothing is published under the final name: a cut-short file would be cached and posted."""
    tools = tmp_path / "tools"
    tools.mkdir()
    out_dir = tmp_path / "out"
    ffmpeg = _full_disk_ffmpeg(tools)
    with pytest.raises(OutputWriteFailed) as err:
        asyncio.run(run_ffmpeg([*LAVFI, *ENCODE], out_dir / "e.mp4", ffmpeg=ffmpeg))
    assert "No space left on device" in str(err.value)
    assert "e.mp4" in str(err.value)
    assert not (out_dir / "e.mp4").exists()
    assert _files(out_dir) == []


def test_no_space_at_the_header_is_a_write_failure_not_an_unavailable_encoder(
    tmp_path: Path,
) -> None:
    """ffmpeg says 'Error initializing output stream' on ENOSPC at the header too: not a reason
    to give up a hardware encoder for libx264."""
    tools = tmp_path / "tools"
    tools.mkdir()
    script = tools / "ffmpeg-header-full"
    script.write_text(
        "#!/bin/sh\n"
        'echo "Could not write header for output file #0: No space left on device" >&2\n'
        'echo "Error initializing output stream 0:0 --" >&2\n'
        "exit 1\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    with pytest.raises(OutputWriteFailed) as err:
        asyncio.run(run_ffmpeg([*LAVFI, *ENCODE], tmp_path / "f.mp4", ffmpeg=str(script)))
    assert not isinstance(err.value, EncoderUnavailable)
    assert _files(tmp_path) == ["tools"]
