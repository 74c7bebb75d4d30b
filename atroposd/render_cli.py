"""`atroposd render SOURCE [--layout L] [--start S] [--end E] -o OUT` (issue 10).

Renders one source in one layout (default ``RENDER_LAYOUT``; ``LAYOUTS_DIR`` adds user
layouts) with ``RENDER_ENCODER``, the same graph the daemon uses. A progress bar on a terminal;
one result line at the end. Exit 0 when rendered, 1 when the render failed, 2 for a bad
layout or setting.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from atroposd.config import load_settings
from atroposd.errors import AtroposError, ConfigError
from atroposd.log import Redactor
from atroposd.render.graph import Cut, Encoder
from atroposd.render.layouts import Layouts
from atroposd.render.render import Renderer
from atroposd.render.runner import Progress
from atroposd.render.source import probe_source

COMMANDS: tuple[str, ...] = ("render",)
BAR = 30


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""
    cmd = sub.add_parser("render", help="render a video into a vertical 1080x1920 MP4")
    cmd.add_argument("source", type=Path, help="the video to render")
    cmd.add_argument("--layout", help="a layout name (default: RENDER_LAYOUT)")
    cmd.add_argument("--start", type=float, help="cut from this second")
    cmd.add_argument("--end", type=float, help="cut to this second")
    cmd.add_argument("-o", "--output", type=Path, required=True, help="the MP4 to write")


def progress_bar(out: TextIO) -> Any:
    """A callback drawing ``[#####.....]  42 %  3.1x`` on one terminal line."""

    def draw(p: Progress) -> None:
        pct = p.percent or 0.0
        filled = round(BAR * pct / 100)
        speed = f"{p.speed:.2f}x" if p.speed else "    "
        out.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {pct:5.1f} %  {speed}")
        if p.done:
            out.write("\n")
        out.flush()

    return draw


async def _render(args: argparse.Namespace) -> str:
    settings = load_settings(args.env_file)
    layouts = Layouts.load(settings.layouts_dir, settings.render_layout)
    layout = layouts.pick(clip=(args.layout or "", "--layout"))
    cut = None
    if args.start is not None or args.end is not None:
        end = args.end
        if end is None:
            end = (await probe_source(args.source)).duration
        cut = Cut(args.start or 0.0, end)
    renderer = Renderer(Encoder(settings.render_encoder))
    began = time.monotonic()
    tty = sys.stderr.isatty()
    done = await renderer.render(
        args.source,
        args.output,
        layout,
        cut=cut,
        on_progress=progress_bar(sys.stderr) if tty else None,
    )
    spent = time.monotonic() - began
    silent = ", silent: the source has no audio" if done.silent else ""
    return f"rendered {done.path} (layout {layout.name}, {done.encoder}, {spent:.1f} s){silent}"


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    if not args.source.is_file():
        print(f"atroposd render: {args.source}: no such file", file=sys.stderr)
        return 1
    try:
        line = asyncio.run(_render(args))
    except ConfigError:
        raise  # exit 2 with the message (cli.py)
    except AtroposError as exc:
        print(f"atroposd render: {exc}", file=sys.stderr)
        return 1
    print(line)
    return 0
