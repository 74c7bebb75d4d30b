"""`atroposd inventory` and `atroposd schedule`: run-out forecast, upcoming posts (issue 11)."""

from __future__ import annotations

import argparse
from typing import Any

from atroposd.log import Redactor

COMMANDS: tuple[str, ...] = ()  # the names this module handles: "inventory", "schedule"


def add_parsers(sub: Any) -> None:
    """Add this module's commands to the CLI's subparsers."""


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """Run one of COMMANDS; args.env_file is the .env to read. Returns the exit code."""
    raise NotImplementedError(args.command)
