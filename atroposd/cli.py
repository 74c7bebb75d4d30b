"""Command line: run, upload --once, posts, retry, cancel, emulator, config-schema."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from atroposd import __version__
from atroposd.config import load_settings, load_upload_config, upload_config_schema
from atroposd.diskfull import DiskFullLines, is_disk_full
from atroposd.domain import PostState
from atroposd.errors import ConfigError, LockedError, StartupError
from atroposd.log import Redactor, configure

S = PostState


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atroposd", description=__doc__)
    parser.add_argument("--version", action="version", version=f"atroposd {__version__}")
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help="the .env file to read (default: ./.env)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the daemon: watch folders, upload, reconcile")
    up = sub.add_parser("upload", help="process what is ready now and exit")
    up.add_argument("--once", action="store_true", required=True)
    up.add_argument("--dry-run", action="store_true", help="log PLAN only; touch nothing")
    up.add_argument("--account")
    up.add_argument("--platform")
    posts = sub.add_parser("posts", help="list posts in the ledger")
    posts.add_argument("--state", choices=[s.value for s in S])
    posts.add_argument("--json", action="store_true")
    for name, text in (("retry", "re-arm a failed/parked post"), ("cancel", "cancel a post")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("post_id", type=int)
    res = sub.add_parser(
        "resolve", help="say what became of a post whose outcome is unknown (you checked)"
    )
    res.add_argument("post_id", type=int)
    said = res.add_mutually_exclusive_group(required=True)
    said.add_argument("--posted", metavar="URL_OR_ID", help="it is on the platform: this one")
    said.add_argument(
        "--not-posted", action="store_true", help="it is not there: upload it again from scratch"
    )
    emu = sub.add_parser("emulator", help="serve the local platform emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8788)
    emu.add_argument("--storage", type=Path, default=None)
    sub.add_parser("config-schema", help="print the JSON Schema of upload_config.json")
    demo = sub.add_parser("demo", help="make a demo folder with clips and run the daemon there")
    demo.add_argument("--dir", type=Path, default=Path("demo"))
    demo.add_argument("--clips", type=int, default=3)
    for module in _command_modules():
        module.add_parsers(sub)
    return parser


def _command_modules() -> list[ModuleType]:
    """Command groups kept in modules of their own (layer 4): each has ``COMMANDS``,
    ``add_parsers(sub)`` and ``run(args, redactor) -> exit code``."""
    from atroposd import auth_cli, doctor, probe_cli, render_cli, schedule_cli

    return [auth_cli, render_cli, probe_cli, schedule_cli, doctor]


def with_values(argv: Sequence[str]) -> list[str]:
    """``--posted X`` as ``--posted=X``: a platform id may start with ``-`` (YouTube's
    ``-Hwgs8kncjE``), which argparse would otherwise take for an option."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg == "--posted":
            value = next(it, None)
            out.append(arg if value is None else f"{arg}={value}")
        else:
            out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``atroposd`` console script; returns the exit code."""
    args = _parser().parse_args(with_values(sys.argv[1:] if argv is None else argv))
    redactor = Redactor()
    configure(redactor)
    try:
        return _dispatch(args, redactor)
    except ConfigError as exc:
        print(f"atroposd: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (LockedError, StartupError) as exc:
        print(f"atroposd: cannot start: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        # Exit 1, not 2: the unit restarts the daemon, and it goes on once there is room.
        where = exc.filename if isinstance(exc, OSError) and exc.filename else "a file"
        print(f"atroposd: disk full: cannot write {where}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, redactor: Redactor) -> int:
    for module in _command_modules():
        if args.command in module.COMMANDS:
            code: int = module.run(args, redactor)
            return code
    if args.command == "emulator":
        from atroposd.emulator import serve

        try:
            serve(args.host, args.port, args.storage)
        except OSError as exc:  # e.g. the port is taken (a daemon's in-process emulator)
            print(
                f"atroposd: cannot serve the emulator on {args.host}:{args.port}: "
                f"{exc.strerror or exc} (another emulator, or a daemon's own, may be there)",
                file=sys.stderr,
            )
            return 2
        return 0
    if args.command == "demo":
        from atroposd.demo import run_demo

        return run_demo(args.dir.resolve(), args.clips, redactor, args.env_file)
    if args.command == "config-schema":
        print(json.dumps(upload_config_schema(), indent=2))
        return 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        settings = load_settings(args.env_file)
    for warning in caught:
        print(f"atroposd: warning: {warning.message}", file=sys.stderr)
    full = DiskFullLines(settings.state_dir)
    configure(redactor, level=getattr(logging, settings.log_level.upper()), extra=(full,))
    config = load_upload_config(settings.upload_config)
    from atroposd.app import App

    app = App(settings, config, redactor)
    app.env_file = args.env_file  # read again on SIGHUP
    if args.command == "run":
        if settings.api_enabled:
            from atroposd.api import attach

            attach(app)
        asyncio.run(app.run())
        return 0
    if args.command == "upload":
        from atroposd.once import upload_once
        from atroposd.providers import REGISTRY

        if args.platform is not None and args.platform not in REGISTRY:
            raise ConfigError(
                f"--platform {args.platform}: unknown (known: {', '.join(sorted(REGISTRY))})"
            )
        if args.account is not None and args.account not in config.accounts:
            raise ConfigError(f"--account {args.account}: not in {settings.upload_config}")
        return asyncio.run(upload_once(app, args.account, args.platform, args.dry_run))
    from atroposd.ledger_cli import ledger_command

    return ledger_command(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
