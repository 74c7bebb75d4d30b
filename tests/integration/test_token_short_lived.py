"""Short-lived tokens and a revoked login, through the real daemon (issue 9, must-show 3).

The issue's 60-second tokens over a 5-minute run, scaled: 3-second tokens over five lifetimes
(the literal run is bench/token_soak.py). The run is paced by the daemon's own refreshes, not
by sleeps: a round starts once every login in use was refreshed twice more (one lifetime).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from tests.support import Daemon, Emulator, Workspace, wait_for

LIFETIME = 3  # seconds an access token lives
ROUNDS = 5  # lifetimes the run spans
PLATFORMS = ("x", "youtube")  # X rotates its single-use refresh token on every refresh


def _two_accounts(ws: Workspace) -> None:
    ws.use_platforms(*PLATFORMS)
    config = json.loads(ws.config_path.read_text())
    config["accounts"]["second"] = {"platforms": dict(config["accounts"]["default"]["platforms"])}
    ws.config_path.write_text(json.dumps(config))


def _refreshes(daemon: Daemon, account: str, platform: str) -> int:
    return len(daemon.events("token_refreshed", account=account, platform=platform))


def _posts(ws: Workspace) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{ws.state / 'ledger.sqlite3'}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [
            dict(r) for r in db.execute("SELECT account, platform, state, attention FROM posts")
        ]
    finally:
        db.close()


def test_short_tokens_never_fail_a_run_and_a_revoked_login_parks_only_its_pair(
    ws: Workspace, emulator: Emulator
) -> None:
    _two_accounts(ws)
    emulator.control("token_lifetime", {"platform": "*", "seconds": LIFETIME})
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        pairs = [(a, p) for a in ("default", "second") for p in PLATFORMS]
        for n in range(ROUNDS):
            ws.drop(f"d{n}", seed=300 + n, caption=f"default {n}\n")
            if n == 0:
                ws.drop("s0", seed=350, caption="second 0\n", folder=ws.queue / "second")
            daemon.wait_event("OK", count=(n + 1) * 2 + 2, timeout=120)
            floor = {pair: _refreshes(daemon, *pair) + 2 for pair in pairs}
            wait_for(
                lambda f=floor: all(_refreshes(daemon, *p) >= f[p] for p in pairs),  # type: ignore[misc]
                60,
                "one more token lifetime (two refreshes of every login)",
            )
        assert not daemon.events("ERR"), daemon.events("ERR")
        emulator.control("revoke", {"platform": "x", "account": "second"})
        ws.drop("s1", seed=351, caption="second 1\n", folder=ws.queue / "second")
        ws.drop("s2", seed=352, caption="second 2\n", folder=ws.queue / "second")
        ws.drop("d9", seed=309, caption="default 9\n")
        ok = (ROUNDS + 1) * 2 + 2  # + default's two and second's YouTube ones
        daemon.wait_event("OK", count=ok + 2, timeout=120)
        daemon.wait_event("ERR", account="second", platform="x")
        wait_for(
            lambda: sum(p["attention"] == "login" for p in _posts(ws)) == 2,
            60,
            "second's two X posts parked for a login",
        )
    finally:
        daemon.stop()
    errs = daemon.events("ERR")
    assert len(errs) == 1, errs  # one line for the dead login, not one per post
    assert (errs[0]["account"], errs[0]["platform"]) == ("second", "x")
    assert "atroposd auth login x --account second" in errs[0]["next"]
    oks = {(ln["account"], ln["platform"], ln["clip"]) for ln in daemon.events("OK")}
    want = {("default", p, f"d{n}.mp4") for p in PLATFORMS for n in [*range(ROUNDS), 9]}
    want |= {("second", p, "second/s0.mp4") for p in PLATFORMS}
    want |= {("second", "youtube", f"second/s{n}.mp4") for n in (1, 2)}
    assert oks == want
    for post in _posts(ws):
        parked = (post["account"], post["platform"]) == ("second", "x")
        assert post["state"] == ("needs_attention" if parked else "published") or (
            parked and post["state"] == "published"  # s0, posted before the revocation
        ), post
    for pair in pairs:
        assert _refreshes(daemon, *pair) >= ROUNDS * 2, pair  # tokens really expired meanwhile
