"""How Facebook is configured: its SPEC, the Page id per account (upload_config.json first, the
.env fallback for the default account only), production needs the Meta app."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from atroposd.clock import SystemClock
from atroposd.config import UploadConfig, load_settings, missing_platform_ids, platform_id
from atroposd.errors import ConfigError, PermanentError
from atroposd.providers import REGISTRY, SPECS
from atroposd.providers.base import ProviderContext
from atroposd.providers.facebook import FacebookAccount, sandbox_page_id
from tests.providers.harness import MemoryCredentials, make_request
from tests.support import make_clip


def config(accounts: dict[str, Any]) -> UploadConfig:
    return UploadConfig.model_validate({"default_account": "default", "accounts": accounts})


def test_the_spec_declares_the_page_id_and_the_meta_app() -> None:
    spec = SPECS["facebook"]
    assert (spec.account, spec.id_field, spec.account_id) == (
        FacebookAccount,
        "page_id",
        "FACEBOOK_PAGE_ID",
    )
    assert set(spec.secrets) == {"META_CLIENT_ID", "META_CLIENT_SECRET"}
    assert {"META_GRAPH_VERSION", "FACEBOOK_GRAPH_BASE"} <= set(spec.settings)


def test_the_page_id_comes_from_the_account_and_env_backs_only_the_default() -> None:
    settings = load_settings(None, {"FACEBOOK_PAGE_ID": "111"})
    cfg = config(
        {
            "default": {"platforms": {"facebook": {}}},
            "shop": {"platforms": {"facebook": {"page_id": "222"}}, "ids": {"facebook": "9"}},
            "other": {"platforms": {"facebook": {}}},
        }
    )
    assert platform_id(cfg, settings, "default", "facebook") == "111"
    assert platform_id(cfg, settings, "shop", "facebook") == "222", "page_id wins over ids"
    assert platform_id(cfg, settings, "other", "facebook") is None, "never another's Page"
    production = load_settings(None, {"ENVIRONMENT": "production", "FACEBOOK_PAGE_ID": "111"})
    [line] = missing_platform_ids(cfg, production)
    assert "accounts.other.platforms.facebook.page_id" in line


def test_production_needs_the_meta_app_and_sandbox_makes_stand_in_pages() -> None:
    def build(sandbox: bool, secrets: dict[str, str]) -> object:
        async def main() -> object:
            async with httpx.AsyncClient() as http:
                ctx = ProviderContext(
                    http=http,
                    credentials=MemoryCredentials("facebook", {}),
                    clock=SystemClock(),
                    sandbox=sandbox,
                    sandbox_url="http://127.0.0.1:9",
                    chunk_size=1 << 20,
                    secrets=secrets,
                    overrides={},
                )
                return REGISTRY["facebook"](ctx)

        return asyncio.run(main())

    with pytest.raises(ConfigError, match="META_CLIENT_ID, META_CLIENT_SECRET"):
        build(False, {})
    build(False, {"META_CLIENT_ID": "id", "META_CLIENT_SECRET": "secret"})
    build(True, {})
    assert sandbox_page_id("alice") == sandbox_page_id("alice") != sandbox_page_id("bob")
    assert sandbox_page_id("alice").isdigit() and len(sandbox_page_id("alice")) == 15


@pytest.mark.parametrize("page_id", ["my-page", "https://www.facebook.com/mypage", "١٢٣"])
def test_a_page_id_that_is_not_a_number_stops_the_start_naming_the_key(page_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        config({"default": {"platforms": {"facebook": {"page_id": page_id}}}})
    [problem] = info.value.errors()
    assert problem["loc"][-1] == "page_id" and "the Page's number" in problem["msg"], problem
    assert not problem["msg"].startswith("Value error"), problem["msg"]
    for given, kept in ((" 102030405060708 ", "102030405060708"), (" ", None), ("", None)):
        cfg = config({"default": {"platforms": {"facebook": {"page_id": given}}}})
        assert cfg.accounts["default"].platforms.model_dump()["facebook"]["page_id"] == kept


def test_a_page_id_from_ids_or_env_that_is_not_a_number_fails_the_post_without_a_request(
    tmp_path: Path,
) -> None:
    sent: list[httpx.Request] = []

    async def main() -> None:
        async def record(req: httpx.Request) -> None:
            sent.append(req)

        async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
            ctx = ProviderContext(
                http=http,
                credentials=MemoryCredentials("facebook", {}),
                clock=SystemClock(),
                sandbox=True,
                sandbox_url="http://127.0.0.1:9",
                chunk_size=1 << 20,
                secrets={},
                overrides={},
                account_ids=lambda platform, account: "facebook.com/mypage",
            )
            provider = REGISTRY["facebook"](ctx)
            request = make_request(make_clip(tmp_path / "clip.mp4"))
            with pytest.raises(PermanentError, match=r"ids\.facebook") as info:
                provider.validate(request)
            assert "the Page's number" in str(info.value) and info.value.code == "badPageId"

    asyncio.run(main())
    assert sent == []
