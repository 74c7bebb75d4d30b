"""A broken ``platforms.snapchat`` block in upload_config.json: one line a user understands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from atroposd.config import load_upload_config
from atroposd.errors import ConfigError


def load(tmp_path: Path, snapchat: dict[str, Any]) -> str:
    """The configuration error of an account whose Snapchat block is ``snapchat``."""
    doc = {"default_account": "main", "accounts": {"main": {"platforms": {"snapchat": snapchat}}}}
    path = tmp_path / "upload_config.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_upload_config(path)
    return str(caught.value)


def test_a_misspelt_key_is_named_with_the_key_meant_and_the_keys_snapchat_takes(
    tmp_path: Path,
) -> None:
    message = load(tmp_path, {"enabled": True, "publsh_to": "story"})
    assert "accounts.main.platforms.snapchat" in message
    assert "'publsh_to'" in message and "did you mean 'publish_to'?" in message
    assert "enabled, locale, profile_id, publish_to" in message
    assert "Extra inputs" not in message and "Value error" not in message


def test_a_locale_that_is_not_one_says_what_a_locale_looks_like(tmp_path: Path) -> None:
    message = load(tmp_path, {"enabled": True, "locale": "english"})
    assert "accounts.main.platforms.snapchat.locale" in message
    assert "'english'" in message and "en_US" in message
    assert "pattern" not in message and "Value error" not in message


def test_publish_to_names_the_two_choices(tmp_path: Path) -> None:
    message = load(tmp_path, {"enabled": True, "publish_to": "reels"})
    assert "publish_to" in message and "'spotlight' or 'story'" in message


def test_a_good_block_loads(tmp_path: Path) -> None:
    path = tmp_path / "upload_config.json"
    block = {"enabled": True, "publish_to": "story", "locale": "de_DE", "profile_id": "p-1"}
    doc = {"default_account": "main", "accounts": {"main": {"platforms": {"snapchat": block}}}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    config = load_upload_config(path)
    assert config.accounts["main"].platforms.enabled() == ["snapchat"]
