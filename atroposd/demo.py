"""``atroposd demo``: a demo folder with generated clips, served by the daemon in sandbox."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from atroposd.config import load_settings, load_upload_config
from atroposd.log import Redactor

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


def make_clip(target: Path, seed: int, seconds: float = 3.0) -> None:
    """A vertical 9:16 H.264/AAC test clip, written to a temp name then renamed into place."""
    tmp = target.with_name(f".{target.name}.part")
    cmd = [
        ffmpeg(),
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=360x640:rate=30,hue=h={seed * 70}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={330 + 110 * seed}",
        "-t",
        str(seconds),
        "-shortest",
        "-pix_fmt",
        "yuv420p",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-c:a",
        "aac",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(tmp),
    ]
    subprocess.run(cmd, check=True)
    os.replace(tmp, target)


def prepare(folder: Path, clips: int) -> None:
    """Create ``folder`` with a config and ``clips`` generated pairs in upload_queue/."""
    queue = folder / "upload_queue"
    queue.mkdir(parents=True, exist_ok=True)
    config = folder / "upload_config.json"
    if not config.exists():
        shutil.copyfile(EXAMPLE, config)
    for i in range(clips):
        stem = f"demo_clip_{i + 1}"
        if (queue / f"{stem}.mp4").exists() or (folder / "posted" / f"{stem}.mp4").exists():
            continue
        make_clip(queue / f"{stem}.mp4", i)
        (queue / f"{stem}.txt").write_text(CAPTIONS[i % len(CAPTIONS)] + "\n", encoding="utf-8")


def run_demo(folder: Path, clips: int, redactor: Redactor) -> int:
    """Prepare the folder, then run the daemon there in sandbox until Ctrl-C."""
    prepare(folder, clips)
    os.chdir(folder)
    print(
        f"atroposd demo: {clips} clips in {folder / 'upload_queue'}; the daemon posts them to "
        "the local emulator (sandbox). Drop more .mp4 + .txt pairs there; Ctrl-C stops.",
        file=sys.stderr,
    )
    environ = {**os.environ, "ENVIRONMENT": "sandbox"}
    settings = load_settings(Path(".env"), environ)
    from atroposd.app import App

    asyncio.run(App(settings, load_upload_config(settings.upload_config), redactor).run())
    return 0
