"""Our render of a 1080p source per layout vs the same graph as a bare ffmpeg command.

    python bench/render.py                  # 60 s 1920x1080 30 fps source, every layout, 1 run
    python bench/render.py --seconds 10 --runs 3 --layouts centered no_zoom

The source (testsrc2 + a 440 Hz tone, 1920x1080, 30 fps) is generated once into a temp dir.
For each layout, "bare" runs ``ffmpeg -y <the graph's arguments> out.mp4`` (the arguments
``render.graph.ffmpeg_args`` builds: one filter graph, libx264 veryfast, AAC) and "ours" runs
``Renderer.render`` (ffprobe of the source, the same arguments through the async runner with
``-progress`` parsing, temp name + fsync + rename, ffprobe check of the result). The two
alternate (bare first on even runs). Printed per layout: wall seconds (median), CPU seconds
of the ffmpeg children, ours/bare wall ratio (target <= 1.05) and the encode speed as a
multiple of real time (source seconds / wall seconds). On a loaded machine the wall ratio
swings both ways with the neighbours; the CPU ratio (``cpu o/b``) is the steadier figure.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atroposd.render.geometry import plan
from atroposd.render.graph import Encoder, ffmpeg_args
from atroposd.render.layouts import Layouts
from atroposd.render.render import Renderer
from atroposd.render.source import probe_source_sync


def make_source(path: Path, seconds: float) -> None:
    cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", f"testsrc2=size=1920x1080:rate=30:duration={seconds}"]
    cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bare(args: list[str], out: Path) -> tuple[float, float]:
    cpu, began = children_cpu(), time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(out)], check=True)
    return time.perf_counter() - began, children_cpu() - cpu


def ours(
    renderer: Renderer, source: Path, out: Path, layouts: Layouts, name: str
) -> tuple[float, float]:
    cpu, began = children_cpu(), time.perf_counter()
    asyncio.run(renderer.render(source, out, layouts.get(name, "--layouts")))
    return time.perf_counter() - began, children_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--layouts", nargs="*")
    opts = parser.parse_args()
    layouts = Layouts.load(None, "centered")
    names = opts.layouts or sorted(layouts.by_name)
    encoder = Encoder(preset=opts.preset)
    renderer = Renderer(encoder)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        make_source(source, opts.seconds)
        info = probe_source_sync(source)
        for name in names:
            layout = layouts.get(name, "--layouts")
            args = ffmpeg_args(str(source), info, plan(layout, info.width, info.height),
                               layout.background, encoder=encoder)  # fmt: skip
            walls: dict[str, list[float]] = {"bare": [], "ours": []}
            cpus: dict[str, list[float]] = {"bare": [], "ours": []}
            for run in range(opts.runs):
                order = ["bare", "ours"] if run % 2 == 0 else ["ours", "bare"]
                for who in order:
                    out = work / f"{name}-{who}.mp4"
                    if who == "bare":
                        wall, cpu = bare(args, out)
                    else:
                        wall, cpu = ours(renderer, source, out, layouts, name)
                    walls[who].append(wall)
                    cpus[who].append(cpu)
                    out.unlink()
            b, o = statistics.median(walls["bare"]), statistics.median(walls["ours"])
            rows.append((name, b, o, statistics.median(cpus["bare"]),
                         statistics.median(cpus["ours"]), o / b, opts.seconds / o))  # fmt: skip
    print(f"source {opts.seconds:g} s 1920x1080 30 fps + AAC; libx264 {opts.preset}; "
          f"{opts.runs} run(s) each; median")  # fmt: skip
    head = f"{'layout':<24}{'bare s':>8}{'ours s':>8}{'bare cpu':>10}{'ours cpu':>10}"
    print(head + f"{'ours/bare':>11}{'cpu o/b':>9}{'speed':>8}")
    for name, b, o, bc, oc, ratio, speed in rows:
        print(
            f"{name:<24}{b:>8.2f}{o:>8.2f}{bc:>10.2f}{oc:>10.2f}{ratio:>11.3f}"
            f"{oc / bc:>9.3f}{speed:>7.2f}x"
        )
    worst = max(r[5] for r in rows)
    print(f"target ours/bare <= 1.05: {'met' if worst <= 1.05 else 'NOT met'} (worst {worst:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
