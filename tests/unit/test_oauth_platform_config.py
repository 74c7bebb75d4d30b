"""What a platform declares (providers/spec.py) reaches it without app.py/config.py naming it;
an account's own platform ids live in its upload_config.json entry, .env is the fallback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atroposd.config import (
    SECRET_NAMES,
    UploadConfig,
    load_settings,
    load_upload_config,
    missing_platform_ids,
    platform_id,
    upload_config_schema,
)
from atroposd.errors import ConfigError
from atroposd.providers import PLATFORMS, SPECS
from atroposd.providers.base import ProviderContext
from atroposd.providers.spec import PlatformSpec

PACKAGE = Path(__file__).resolve().parents[2] / "atroposd"
IG = {"instagram": PlatformSpec(account_id="IG_BUSINESS_ID")}  # as the Instagram issue declares


def config(accounts: dict[str, Any], default: str = "default") -> UploadConfig:
    return UploadConfig.model_validate({"default_account": default, "accounts": accounts})


@pytest.mark.parametrize("module", ["app.py", "config.py"])
def test_the_composition_root_and_the_config_name_no_platform(module: str) -> None:
    source = (PACKAGE / module).read_text(encoding="utf-8").lower()
    assert "youtube" not in source, f"{module} carries YouTube-specific settings"


def test_every_registered_platform_declares_its_spec_and_account_model() -> None:
    assert set(SPECS) == set(PLATFORMS)
    schema = upload_config_schema()
    platforms = schema["$defs"]["PlatformsConfig"]["properties"]
    assert set(platforms) == set(SPECS), "each platform's account block comes from its SPEC"


def test_declared_names_are_read_from_the_environment_under_their_old_names() -> None:
    s = load_settings(
        None,
        {
            "YOUTUBE_TOKEN_URL": "http://127.0.0.1:9/youtube/token",
            "YOUTUBE_API_BASE": "http://127.0.0.1:9/youtube/youtube/v3",
            "YOUTUBE_CLIENT_SECRET": "declared-secret-value",
            "IG_BUSINESS_ID": "17841400000000000",
        },
    )
    assert s.platform_settings == {
        "YOUTUBE_TOKEN_URL": "http://127.0.0.1:9/youtube/token",
        "YOUTUBE_API_BASE": "http://127.0.0.1:9/youtube/youtube/v3",
    }
    assert s.secret("YOUTUBE_CLIENT_SECRET") == "declared-secret-value"
    assert s.secret("IG_BUSINESS_ID") == "17841400000000000"
    for spec in SPECS.values():
        assert set(spec.secret_names()) <= set(SECRET_NAMES)


def test_an_accounts_ids_come_from_its_entry_and_env_only_backs_the_default_account() -> None:
    settings = load_settings(None, {"IG_BUSINESS_ID": "111"})
    cfg = config(
        {
            "default": {},
            "client": {"ids": {"instagram": "222", "facebook": "333"}},
            "other": {},
        }
    )
    assert platform_id(cfg, settings, "client", "instagram", IG) == "222"
    assert platform_id(cfg, settings, "client", "facebook", IG) == "333"
    assert platform_id(cfg, settings, "default", "instagram", IG) == "111"
    assert platform_id(cfg, settings, "other", "instagram", IG) is None, "never another's id"
    assert platform_id(cfg, settings, "default", "snapchat", IG) is None
    own = config({"default": {"ids": {"instagram": "444"}}})
    assert platform_id(own, settings, "default", "instagram", IG) == "444", "entry beats .env"


def test_providers_ask_the_context_for_an_accounts_platform_id() -> None:
    settings = load_settings(None, {"IG_BUSINESS_ID": "111"})
    cfg = config({"default": {}, "client": {"ids": {"instagram": "222"}}})
    ctx = ProviderContext(
        http=None,  # type: ignore[arg-type]  # not used by the lookup
        credentials=None,  # type: ignore[arg-type]
        clock=None,  # type: ignore[arg-type]
        sandbox=False,
        sandbox_url="",
        chunk_size=262144,
        secrets={},
        overrides={},
        account_ids=lambda p, a: platform_id(cfg, settings, a, p, IG),
    )
    assert ctx.account_id("instagram", "client") == "222"
    assert ctx.account_id("instagram", "default") == "111"


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ({"instagarm": "1"}, ["accounts.default.ids", "instagarm", "instagram"]),
        ({"facebook": " "}, ["accounts.default.ids", "facebook", "non-empty"]),
    ],
)
def test_a_bad_ids_entry_names_its_path(
    tmp_path: Path, ids: dict[str, str], words: list[str]
) -> None:
    path = tmp_path / "upload_config.json"
    path.write_text(json.dumps({"accounts": {"default": {"ids": ids}}}))
    with pytest.raises(ConfigError) as caught:
        load_upload_config(path)
    for word in words:
        assert word in str(caught.value)


def test_the_schema_documents_ids_with_their_env_fallbacks() -> None:
    ids = upload_config_schema()["$defs"]["AccountConfig"]["properties"]["ids"]
    for name in ("IG_BUSINESS_ID", "FACEBOOK_PAGE_ID", "SNAPCHAT_PROFILE_ID"):
        assert name in ids["description"]


def test_in_production_an_enabled_platform_needing_an_account_id_must_have_one() -> None:
    # A registered platform declaring an id fallback, as Instagram's SPEC will.
    specs = {"youtube": PlatformSpec(account_id="IG_BUSINESS_ID")}
    yt = {"youtube": {"enabled": True}}
    cfg = config(
        {
            "default": {"platforms": yt},
            "client": {"platforms": yt, "ids": {"youtube": "UC-client"}},
            "other": {"platforms": yt},
            "off": {"platforms": {"youtube": {"enabled": False}}},
        }
    )
    production = load_settings(None, {"ENVIRONMENT": "production"})
    assert missing_platform_ids(cfg, production, specs) == [
        "upload_config.json: accounts.default.ids.youtube: required, the account's own "
        "youtube id (or IG_BUSINESS_ID in .env)",
        "upload_config.json: accounts.other.ids.youtube: required, the account's own youtube id",
    ]
    with_env = load_settings(None, {"ENVIRONMENT": "production", "IG_BUSINESS_ID": "1"})
    assert [line.split(":")[1] for line in missing_platform_ids(cfg, with_env, specs)] == [
        " accounts.other.ids.youtube"
    ]
    assert missing_platform_ids(cfg, load_settings(None, {}), specs) == [], "sandbox"
    assert missing_platform_ids(cfg, production) == [], "YouTube itself needs no account id"
