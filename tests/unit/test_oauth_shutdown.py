"""A token refresh stopped halfway (a shutdown) never loses a rotated refresh token."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from atroposd.domain import FINISH_ON_STOP
from atroposd.providers.auth import OAuth2Tokens
from atroposd.providers.base import Credentials
from tests.support import Emulator
from tests.unit.test_oauth import ACCOUNT, ROTATING, run, vault


def test_a_refresh_cancelled_after_the_platform_rotated_still_stores_the_new_token(
    emulator: Emulator, tmp_path: Path
) -> None:
    store = vault(tmp_path)
    store.save(ACCOUNT, "youtube", Credentials("", refresh_token=ROTATING))
    # The platform rotates (the old refresh token dies), and its answer takes a while back.
    emulator.fault("token", action="commit_then_delay", hold=0.5)

    async def body(tokens: OAuth2Tokens, _: object) -> None:
        caller = asyncio.create_task(tokens.token(ACCOUNT))
        for _ in range(1000):  # until the platform has rotated; its answer is on its way
            if emulator.http.get("/_emulator/tokens").json():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the token request never reached the platform")
        caller.cancel()  # the daemon stops: its worker is cancelled
        with contextlib.suppress(asyncio.CancelledError):
            await caller
        # What the daemon's shutdown waits for (bounded) before closing its client.
        unfinished = [t for t in asyncio.all_tasks() if t.get_name().startswith(FINISH_ON_STOP)]
        assert unfinished, "the refresh was not left to finish"
        await asyncio.wait(unfinished, timeout=10)
        kept = store.load(ACCOUNT, "youtube")
        assert kept.refresh_token not in (None, ROTATING), "the rotated token was lost"
        assert kept.access_token
        again = await tokens.refresh(ACCOUNT)  # the stored refresh token still works
        assert again.access_token and again.access_token != kept.access_token

    run(emulator, store, body)
