"""A refresh whose answer is lost after X rotated the refresh token (docs/auth.md).

X refresh tokens are single-use and presenting a spent one kills the whole family
(../shared/providers.md §7.1): once the platform rotated the token and the connection was cut
before the answer arrived, the login cannot be saved by any retry. What atroposd must do: the
cut itself is a failure "for now" (a warning and a backoff, no ERR, nothing parked); the next
refresh, refused, parks that one account on X with ONE ERR naming the command that
reconnects it, and the other account goes on. The real job, OAuth module, vault, ledger and
emulator (``commit_then_drop``: the token is rotated, then the connection closed).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs

from atroposd.bus import Bus
from atroposd.keys import new_key
from atroposd.pipeline.tokens import TokenRefresher
from atroposd.preflight import open_ledger
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials
from atroposd.store.ledger import Ledger
from atroposd.vault import Vault, notes
from tests.support import Emulator
from tests.unit.support import FakeClock


def _x_token_calls(emulator: Emulator) -> int:
    seen = emulator.http.get("/_emulator/requests").raise_for_status().json()
    return sum(1 for r in seen if r["path"] == "/x/2/oauth2/token")


def test_a_lost_answer_after_x_rotated_is_one_err_for_that_login_not_a_storm(
    tmp_path: Path, emulator: Emulator
) -> None:
    clock = FakeClock(datetime.now(UTC))
    tokens = tmp_path / "tokens"
    vault = Vault(tokens, new_key(), sandbox=False)
    for account in ("a", "b"):
        vault.save(account, "x", Credentials("", f"sandbox:{account}:first-login"))
    ledger = Ledger(open_ledger(tmp_path / "state"), clock)

    async def main() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=10.0) as http:
            url = f"{emulator.url}/x/2/oauth2/token"
            endpoint = TokenEndpoint("x", url, "cid", "csecret", "client_secret_basic")
            keeper = OAuth2Tokens(http, endpoint, vault, clock)
            job = TokenRefresher(
                http, lambda: ["a", "b"], lambda a: ["x"], ledger, Bus(), tokens, 600, clock
            )
            for account in ("a", "b"):
                await keeper.token(account)  # 2-hour tokens, rotated refresh tokens stored
            clock.advance(2 * 3600 - 300)  # both due
            rule = {"platform": "x", "step": "token", "nth": 1, "action": "commit_then_drop"}
            emulator.faults(rule)  # the first refresh (account a): rotated, answer lost
            with capture_logs() as logs:
                await job.tick()
                lost = [ln for ln in logs if ln["event"] == "token_refresh_failed"]
                assert [ln["account"] for ln in lost] == ["a"], logs
                assert not [ln for ln in logs if ln.get("log_level") == "error"], logs
                clock.advance(5)  # the backoff ends: the old (spent) token is refused
                await job.tick()
                asked = _x_token_calls(emulator)
                for _ in range(3):
                    clock.advance(600)
                    await job.tick()  # the dead login is not asked again
                assert _x_token_calls(emulator) == asked
            return logs

    logs = asyncio.run(main())
    errs = [ln for ln in logs if ln.get("log_level") == "error"]
    assert len(errs) == 1, errs
    assert (errs[0]["account"], errs[0]["platform"]) == ("a", "x")
    assert "atroposd auth login x --account a" in errs[0]["next"]
    assert "last_error" in notes(tokens, "a", "x")
    assert "last_error" not in notes(tokens, "b", "x")
