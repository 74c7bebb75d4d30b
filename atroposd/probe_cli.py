"""`atroposd probe FILE [--json]`: what each enabled platform would do with a file (issue 10).

The media facts (ffprobe) and, per platform enabled in upload_config.json (all accounts, or
``--account``), the verdict of ``pipeline/media.py``: upload as is, transcode (into which
variant, and why), or reject (why), plus advisory notes. Without a readable upload config
every platform is shown. Exit 0 when the file was probed, 1 when it is not a readable video.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from atroposd.config import load_settings, load_upload_config
from atroposd.errors import ConfigError
from atroposd.log import Redactor
from atroposd.pipeline.media import Action, Verdict, capabilities_by_platform, judge
from atroposd.render.probe import MediaInfo, MediaUnreadable, ToolMissing, probe_file

COMMANDS: tuple[str, ...] = ("probe",)
WORDS = {Action.AS_IS: "upload as is", Action.TRANSCODE: "transcode", Action.REJECT: "reject"}


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""
    cmd = sub.add_parser("probe", help="media facts of a video and what each platform would do")
    cmd.add_argument("file", type=Path, help="the video to probe")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of text")
    cmd.add_argument("--account", help="only this account's enabled platforms")


def _platforms(args: argparse.Namespace) -> tuple[list[str], str | None]:
    """The enabled platforms (sorted), or all of them with a note saying why."""
    known = sorted(capabilities_by_platform())
    try:
        config = load_upload_config(load_settings(args.env_file).upload_config)
    except ConfigError as exc:
        first = str(exc).splitlines()[0]
        return known, f"every platform shown: upload config not read ({first})"
    if args.account is not None:
        if args.account not in config.accounts:
            raise ConfigError(f"--account {args.account}: not in the upload config")
        names = set(config.platforms_for(args.account))
    else:
        names = {p for a in config.accounts for p in config.platforms_for(a)}
    return [n for n in known if n in names], None


def _facts(info: MediaInfo) -> str:
    w, h = info.display
    audio = (
        f"{info.audio_codec} {info.audio_channels} ch {info.audio_rate} Hz"
        if info.audio_codec
        else "no audio"
    )
    return (
        f"{info.container}, {info.video_codec} {info.profile or ''} ({info.pix_fmt}, "
        f"{info.bit_depth}-bit), {w}x{h}, {info.fps:g} fps, {info.duration_s:.1f} s, "
        f"{info.size / 1e6:.1f} MB, {audio}, faststart {info.faststart}"
    )


def _line(name: str, verdict: Verdict) -> list[str]:
    head = WORDS[verdict.action]
    if verdict.profile is not None:
        head += f" -> {verdict.profile.key}"
    why = f": {'; '.join(verdict.reasons)}" if verdict.reasons else ""
    return [f"  {name:<10} {head}{why}", *(f"  {'':<10} note: {n}" for n in verdict.notes)]


def _json(path: Path, info: MediaInfo, verdicts: dict[str, Verdict], note: str | None) -> str:
    doc: dict[str, Any] = {
        "file": str(path),
        "media": info.to_json(),
        "platforms": {
            name: {
                "action": v.action.value,
                "profile": v.profile.key if v.profile else None,
                "reasons": list(v.reasons),
                "notes": list(v.notes),
            }
            for name, v in verdicts.items()
        },
    }
    if note:
        doc["note"] = note
    return json.dumps(doc, indent=2)


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    names, note = _platforms(args)
    try:
        info = probe_file(args.file)
    except ToolMissing as exc:
        print(f"atroposd: {exc.strerror}", file=sys.stderr)
        return 1
    except MediaUnreadable as exc:
        if args.json:
            print(json.dumps({"file": str(args.file), "error": exc.reason}, indent=2))
        else:
            print(f"atroposd: {exc}", file=sys.stderr)
        return 1
    caps = capabilities_by_platform()
    verdicts = {name: judge(info, caps[name], name) for name in names}
    if args.json:
        print(_json(args.file, info, verdicts, note))
        return 0
    print(f"{args.file}: {_facts(info)}")
    for name, verdict in verdicts.items():
        print("\n".join(_line(name, verdict)))
    if note:
        print(f"({note})")
    return 0
