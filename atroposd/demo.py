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
