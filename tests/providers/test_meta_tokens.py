"""Meta tokens through the Instagram provider (providers.md §2.2): a page token without expiry is
used as it is, a long-lived token a week from its end is exchanged first and stored, and a token
refused with 190 on HTTP 400 is exchanged once, then the login is needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from atroposd.errors import ReauthRequired
from atroposd.providers.base import Credentials
from tests.providers.harness import ACCOUNT, Harness, default_media, make_request, run
from tests.providers.test_instagram_conformance import INSTAGRAM
from tests.support import Emulator


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_media(tmp_path_factory.mktemp("meta") / "clip.mp4")


async def issued(h: Harness) -> str:
    """A token the emulator issued for the account (what a login would have stored)."""
    form = {
        "grant_type": "fb_exchange_token",
        "client_id": "a",
        "client_secret": "s",
        "fb_exchange_token": f"sandbox:{ACCOUNT}:login",
    }
    resp = await h.ctl.post("/instagram/v26.0/oauth/access_token", data=form)
    return str(resp.raise_for_status().json()["access_token"])


def exchanges(h: Harness) -> int:
    return sum(1 for r in h.sent if r.url.path.endswith("/oauth/access_token"))


@pytest.mark.parametrize(
    ("left", "exchanged"), [(None, 0), (timedelta(days=30), 0), (timedelta(days=3), 1)]
)
def test_a_token_is_exchanged_only_in_its_last_week(
    emulator: Emulator, media: Path, left: timedelta | None, exchanged: int
) -> None:
    async def scenario(h: Harness) -> None:
        token = await issued(h)
        expires = datetime.now(UTC) + left if left is not None else None
        h.creds.save(ACCOUNT, "instagram", Credentials(token, expires_at=expires))
        h.creds.saved.clear()
        await h.follow(await h.upload())
        assert exchanges(h) == exchanged
        assert len(h.creds.saved) == exchanged
        if exchanged:
            fresh = h.creds.load(ACCOUNT, "instagram")
            assert fresh.access_token != token and fresh.expires_at is not None
            assert fresh.expires_at > datetime.now(UTC) + timedelta(days=59)

    run(INSTAGRAM, emulator, make_request(media), scenario)


def test_a_token_refused_on_http_400_is_exchanged_once_then_needs_a_login(
    emulator: Emulator, media: Path
) -> None:
    async def scenario(h: Harness) -> None:
        token = await issued(h)
        h.creds.save(ACCOUNT, "instagram", Credentials(token))
        await h.control("revoke", platform="instagram", account=ACCOUNT)
        with pytest.raises(ReauthRequired) as info:
            await h.upload()
        assert exchanges(h) == 1, "not exactly one exchange after the 190"
        assert info.value.platform == "instagram" and token not in str(info.value)
        first = h.sent[0]
        assert first.url.path.endswith("/media") and first.method == "POST"

    run(INSTAGRAM, emulator, make_request(media), scenario)
