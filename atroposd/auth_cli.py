"""`atroposd auth login|logout|status|rotate-key|keygen`: logins and the token key (issue 9)."""

from __future__ import annotations

import argparse
from typing import Any

from atroposd.log import Redactor

COMMANDS: tuple[str, ...] = ()  # the top-level command names this module handles: ("auth",)


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    raise NotImplementedError(args.command)
