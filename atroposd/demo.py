"""``atroposd demo``: a demo folder with generated clips, served by the daemon in sandbox."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from atroposd.config import load_settings, load_upload_config
from atroposd.diskfull import DiskFullLines
from atroposd.log import Redactor, configure

EXAMPLE = Path(__file__).resolve().parent / "data" / "upload_config.example.json"
CAPTIONS = (
    "The moment the whole room went quiet\n\nCredit: Demo Channel — Long Talk\n\n#shorts #demo",
    "Three rules for better clips\n\n#shorts #editing #tips",
    "Why vertical video wins on mobile\n\nCredit: Demo Channel — Q&A\n\n#shorts #mobile",
)


def ffmpeg() -> str:
    """The system ffmpeg, else the binary that ships with imageio-ffmpeg."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SystemExit(
            "atroposd demo: ffmpeg not found; install it (apt install ffmpeg) "
            "or pip install imageio-ffmpeg"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def make_clip(
    target: Path,
    seed: int,
    seconds: float = 3.0,
    size: str = "360x640",
    bitrate: str | None = None,
) -> Path:
    """A vertical H.264/AAC test clip, distinct per ``seed``, renamed into place when done.

    With ``bitrate`` the picture gets noise so the encoder stays near that rate and the file
    size is predictable (tests and benchmarks rely on it).
    """
    tmp = target.with_name(f".{target.name}.part")
    video = f"testsrc2=size={size}:rate=15,hue=h={seed * 37 % 360}"
    rate: list[str] = []
    if bitrate is not None:
        video += ",noise=alls=40:allf=t"
        rate = ["-b:v", bitrate, "-maxrate", bitrate, "-bufsize", bitrate]
    cmd = [
        ffmpeg(),
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        video,
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={300 + 10 * seed}",
        "-t",
        str(seconds),
        "-shortest",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        *rate,
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(tmp),
    ]
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, capture_output=True)
    os.replace(tmp, target)
    return target


DEMO_FOLDERS = {  # the demo's own layout, whatever .env or the environment say
    "UPLOAD_FOLDER": "upload_queue",
    "OUT_ROOT": "out",
    "STATE_DIR": ".atroposd",
    "TOKENS_DIR": "tokens",
    "ARCHIVE_DIR": "posted",
    "UPLOAD_CONFIG": "upload_config.json",
}


def prepare(folder: Path, clips: int) -> tuple[list[str], list[str]]:
    """Create ``folder`` with a config and up to ``clips`` pairs in upload_queue/.

    Returns the stems made now and those left from an earlier run (queued or posted).
    """
    queue = folder / "upload_queue"
    queue.mkdir(parents=True, exist_ok=True)
    config = folder / "upload_config.json"
    if not config.exists():
        shutil.copyfile(EXAMPLE, config)
    made: list[str] = []
    kept: list[str] = []
    for i in range(clips):
        stem = f"demo_clip_{i + 1}"
        if (queue / f"{stem}.mp4").exists() or (folder / "posted" / f"{stem}.mp4").exists():
            kept.append(stem)
            continue
        make_clip(queue / f"{stem}.mp4", i)
        (queue / f"{stem}.txt").write_text(CAPTIONS[i % len(CAPTIONS)] + "\n", encoding="utf-8")
        made.append(stem)
    return made, kept


def _say(folder: Path, made: list[str], kept: list[str], env_file: Path) -> None:
    queue = folder / "upload_queue"
    news = f"{len(made)} new clip(s) in {queue}" if made else f"no new clips in {queue}"
    if kept:
        news += (
            f"; {len(kept)} from an earlier run left where they are, queued or posted "
            f"({', '.join(kept)})"
        )
    source = f"settings from {env_file}" if env_file.is_file() else f"no {env_file}, defaults"
    print(
        f"atroposd demo: {news}. Sandbox ({source}): the daemon posts to the local emulator. "
        "Drop more .mp4 + .txt pairs there; Ctrl-C stops.",
        file=sys.stderr,
    )


def run_demo(folder: Path, clips: int, redactor: Redactor, env_file: Path) -> int:
    """Prepare the folder, then run the daemon there in sandbox until Ctrl-C.

    ``env_file`` (./.env by default, read from where the command was run) gives the
    sandbox URL, log level and tuning; the folders are always the demo folder's own.
    """
    env_file = env_file.absolute()
    made, kept = prepare(folder, clips)
    os.chdir(folder)
    _say(folder, made, kept, env_file)
    forced = {name: str(folder / rel) for name, rel in DEMO_FOLDERS.items()}
    environ = {**os.environ, **forced, "ENVIRONMENT": "sandbox"}
    environ.pop("SERVER_ENV", None)
    settings = load_settings(env_file, environ)
    full = DiskFullLines(settings.state_dir)
    configure(redactor, level=getattr(logging, settings.log_level.upper()), extra=(full,))
    from atroposd.app import App

    asyncio.run(App(settings, load_upload_config(settings.upload_config), redactor).run())
    return 0
