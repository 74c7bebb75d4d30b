"""Issue 9's literal run: the emulator issues 60-second access tokens and the real daemon posts
for 5 minutes; no post may fail on an expired token.

    python bench/token_soak.py [--lifetime 60] [--minutes 5] [--every 15]
                               [--platforms x,youtube] [--accounts 2]

A scratch workspace (as tests.support builds them) with ``--accounts`` accounts on each of
``--platforms`` (X rotates its single-use refresh token on every refresh), the real emulator
on a loopback port with ``POST /_emulator/token_lifetime``, the real ``atroposd run`` process
with the default TOKEN_REFRESH_MARGIN_SECONDS (600: clamped to half the 60-second lifetime).
A clip is dropped for every account every ``--every`` seconds (pacing the load: a bench, not
a test). After the last drop every post is waited for. Printed (JSON):

- posts planned / OK / ERR lines, posts not published;
- refreshes per account and platform (``token_refreshed`` lines) and the lifetimes the run spans;
- requests the emulator saw, how many carried a token, how many of those carried an expired
  one (each is refused with a 401 and retried after a refresh: a post never fails on one,
  but a refresh ahead of expiry should leave none);
- the daemon's CPU seconds (/proc) over the run.

The scratch dir is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import Daemon, Emulator, Workspace, wait_for


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime, stime in clock ticks (100/s)


def configure(ws: Workspace, platforms: list[str], accounts: list[str]) -> None:
    ws.use_platforms(*platforms)
    config = json.loads(ws.config_path.read_text())
    for account in accounts[1:]:
        config["accounts"][account] = {
            "platforms": dict(config["accounts"]["default"]["platforms"])
        }
    ws.config_path.write_text(json.dumps(config))


def soak(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    platforms = args.platforms.split(",")
    accounts = ["default", *(f"acct{n}" for n in range(1, args.accounts))]
    emulator = Emulator(root / "emulator")
    try:
        ws = Workspace(root / "home", emulator.url)
        configure(ws, platforms, accounts)
        emulator.control("token_lifetime", {"platform": "*", "seconds": args.lifetime})
        daemon = Daemon(ws)
        try:
            daemon.wait_event("daemon_started")
            started = time.monotonic()
            drops = 0
            while time.monotonic() - started < args.minutes * 60:
                for account in accounts:
                    folder = ws.queue if account == "default" else ws.queue / account
                    ws.drop(f"c{drops}", seed=drops, caption=f"{account} {drops}\n", folder=folder)
                    drops += 1
                time.sleep(args.every)
            want = drops * len(platforms)
            wait_for(
                lambda: len(daemon.events("OK")) + len(daemon.events("ERR")) >= want,
                600,
                "every post",
            )
            span = time.monotonic() - started
            cpu = cpu_seconds(daemon.proc.pid)
        finally:
            daemon.stop()
        seen = emulator.http.get("/_emulator/requests").raise_for_status().json()
    finally:
        emulator.close()
    carried = [r for r in seen if r["token"] != "none"]
    refreshed = Counter(
        f"{ln['account']}/{ln['platform']}" for ln in daemon.events("token_refreshed")
    )
    return {
        "lifetime_s": args.lifetime,
        "run_s": round(span, 1),
        "lifetimes_spanned": round(span / args.lifetime, 1),
        "posts_planned": want,
        "ok": len(daemon.events("OK")),
        "err_lines": len(daemon.events("ERR")),
        "refreshes": dict(sorted(refreshed.items())),
        "requests": len(seen),
        "requests_with_token": len(carried),
        "requests_with_expired_token": sum(r["token"] == "expired" for r in carried),
        "requests_with_unknown_token": sum(r["token"] == "unknown" for r in carried),
        "daemon_cpu_s": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifetime", type=int, default=60)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--every", type=float, default=15.0)
    parser.add_argument("--platforms", default="x,youtube")
    parser.add_argument("--accounts", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="atroposd-token-soak-"))
    try:
        print(json.dumps(soak(args, root), indent=1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
