"""``python -m atroposd.emulator --host 127.0.0.1 --port 8788 [--storage-dir DIR]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from atroposd.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m atroposd.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--storage-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.storage_dir)


if __name__ == "__main__":
    main()
