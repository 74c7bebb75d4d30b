"""X's configuration: the app's keys for each account's user context, the account's user id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from atroposd.clock import SystemClock
from atroposd.errors import ConfigError, PermanentError
from atroposd.providers import REGISTRY
from atroposd.providers.base import Provider, ProviderContext, UploadRequest
from atroposd.providers.x import XAccount
from tests.providers.harness import MemoryCredentials

OAUTH2_APP = {"X_CLIENT_ID": "id", "X_CLIENT_SECRET": "secret"}
OAUTH1_APP = {"X_CONSUMER_KEY": "key", "X_CONSUMER_SECRET": "secret"}


def build(
    secrets: dict[str, str], accounts: dict[str, dict[str, object]] | None = None, **overrides: str
) -> Provider:
    async def main() -> Provider:
        async with httpx.AsyncClient() as http:
            ctx = ProviderContext(
                http=http,
                credentials=MemoryCredentials("x", {}),
                clock=SystemClock(),
                sandbox=False,
                sandbox_url="http://127.0.0.1:9",
                chunk_size=1 << 20,
                secrets=secrets,
                overrides=overrides,
                accounts=lambda platform: accounts or {},
            )
            return REGISTRY["x"](ctx)

    return asyncio.run(main())


def _request(tmp_path: Path, auth: str | None) -> UploadRequest:
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    options = {"auth": auth} if auth else {}
    return UploadRequest("legacy", clip, 1, "0" * 64, "", "caption", options=options)


def test_production_start_needs_the_keys_of_x_auth_s_user_context() -> None:
    with pytest.raises(ConfigError, match="X_CLIENT_ID, X_CLIENT_SECRET"):
        build({})
    with pytest.raises(ConfigError, match="X_CONSUMER_KEY, X_CONSUMER_SECRET"):
        build(OAUTH2_APP, X_AUTH="oauth1")


def test_production_start_needs_the_keys_of_each_account_s_user_context_and_only_those() -> None:
    """An account on "auth": "oauth1" with X_AUTH at its default (oauth2) needs the consumer
    keys, not X_CLIENT_ID; an account left on X_AUTH still needs X_AUTH's keys, by name."""
    build(OAUTH1_APP, {"solo": {"auth": "oauth1"}})  # no X_CLIENT_ID: fine
    build(OAUTH2_APP, {"solo": {"auth": None}, "other": {}})
    with pytest.raises(ConfigError) as info:
        build(OAUTH1_APP, {"legacy": {"auth": "oauth1"}, "main": {"auth": None}})
    assert str(info.value).count("\n") == 0, info.value
    assert "'main'" in str(info.value) and "X_CLIENT_ID, X_CLIENT_SECRET" in str(info.value)
    with pytest.raises(ConfigError) as info:
        build({"X_CLIENT_ID": "id"}, {"legacy": {"auth": "oauth1"}, "main": {}}, X_AUTH="oauth2")
    lines = str(info.value).splitlines()
    assert len(lines) == 2, lines
    assert "'legacy'" in lines[0] and "X_CONSUMER_KEY, X_CONSUMER_SECRET" in lines[0]
    assert '"auth": "oauth1"' in lines[0]
    assert "'main'" in lines[1] and "X_CLIENT_SECRET" in lines[1] and "X_CLIENT_ID" not in lines[1]


@pytest.mark.parametrize(
    ("secrets", "auth", "missing"),
    [
        (OAUTH2_APP, "oauth1", "X_CONSUMER_KEY, X_CONSUMER_SECRET"),
        ({**OAUTH1_APP, "X_CLIENT_ID": "id"}, "oauth2", "X_CLIENT_SECRET"),
    ],
    ids=["oauth1-account", "oauth2-account"],
)
def test_an_account_choosing_the_other_user_context_without_its_keys_is_told_offline(
    tmp_path: Path, secrets: dict[str, str], auth: str, missing: str
) -> None:
    """The daemon starts (X_AUTH's keys are there); the account's post fails before any
    request, naming the missing keys, instead of a 401 that asks for a new login."""
    x_auth = "oauth2" if auth == "oauth1" else "oauth1"
    provider = build(secrets, X_AUTH=x_auth)
    with pytest.raises(PermanentError) as info:
        provider.validate(_request(tmp_path, auth))
    assert missing in str(info.value) and f'"auth": "{auth}"' in str(info.value)
    assert "legacy" in str(info.value) and info.value.code == "missing-app-keys"
    provider.validate(_request(tmp_path, None))  # X_AUTH's own accounts post as before


@pytest.mark.parametrize(
    ("given", "kept"), [("2244994945", "2244994945"), (2244994945, "2244994945"), ("", None)]
)
def test_the_account_s_user_id_is_its_number(given: object, kept: str | None) -> None:
    assert XAccount.model_validate({"enabled": True, "user_id": given}).user_id == kept


@pytest.mark.parametrize("given", ["@alice", "https://x.com/alice", "12345678901234567890", 1.5])
def test_a_handle_or_url_as_user_id_is_refused_saying_what_an_id_is(given: object) -> None:
    with pytest.raises(ValidationError) as info:
        XAccount.model_validate({"enabled": True, "user_id": given})
    assert "not its @handle" in str(info.value) and "Value error" not in str(info.value)
