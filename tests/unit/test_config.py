"""Settings from .env + environment, and upload_config.json, validated with precise errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from atroposd.config import (
    PLANNED_PLATFORMS,
    load_settings,
    load_upload_config,
    upload_config_schema,
)
from atroposd.errors import ConfigError
from atroposd.providers import PLATFORMS, SPECS

REPO = Path(__file__).resolve().parents[2]
# The example has lived at the repo root and (being packaged) under atroposd/data/.
EXAMPLES = [
    p
    for p in (
        REPO / "upload_config.example.json",
        REPO / "atroposd/data/upload_config.example.json",
    )
    if p.is_file()
]


def test_defaults_with_no_env_file_and_empty_environment(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "missing.env", {})
    assert s.environment == "sandbox"
    assert s.sandbox is True
    assert s.upload_folder == Path("upload_queue")
    assert s.out_root == Path("out")
    assert s.tokens_dir == Path("tokens")
    assert s.state_dir == Path(".atroposd")
    assert s.archive_dir == Path("posted")
    assert s.delete_uploaded_clips is False
    assert s.sandbox_url == "http://127.0.0.1:8788"
    assert s.secrets == {}


def test_env_file_none_reads_only_environ() -> None:
    s = load_settings(None, {"UPLOAD_FOLDER": "/q"})
    assert s.upload_folder == Path("/q")


def test_server_env_is_an_alias_of_environment(tmp_path: Path) -> None:
    assert load_settings(None, {"SERVER_ENV": "production"}).environment == "production"
    assert load_settings(None, {"SERVER_ENV": "production"}).sandbox is False


def test_env_file_is_read_and_environment_overrides_it(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "UPLOAD_FOLDER=/from/file\nOUT_ROOT=/out/file\nDELETE_UPLOADED_CLIPS=true\n"
        "SANDBOX_URL=http://localhost:9999/\n",
        encoding="utf-8",
    )
    s = load_settings(env_file, {"OUT_ROOT": "/out/env"})
    assert s.upload_folder == Path("/from/file")
    assert s.out_root == Path("/out/env")
    assert s.delete_uploaded_clips is True
    assert s.sandbox_url == "http://localhost:9999"  # trailing slash dropped


def test_empty_values_mean_default(tmp_path: Path) -> None:
    s = load_settings(None, {"UPLOAD_FOLDER": "", "RENDER_LAYOUT": ""})
    assert s.upload_folder == Path("upload_queue")
    assert s.render_layout == "centered"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RENDER_LAYOUT", "diagonal"),
        ("WINDOW_CONTEXT_PERCENTAGE", "7"),
        ("UPLOAD_CHUNK_BYTES", "0"),
        ("UPLOAD_CHUNK_BYTES", str((1 << 30) + 1)),
        ("ENVIRONMENT", "staging"),
        ("SANDBOX_URL", "ftp://x"),
        ("DELETE_UPLOADED_CLIPS", "maybe"),
        ("MAX_ATTEMPTS", "0"),
        ("MAX_ATTEMPTS", "101"),
        ("PROCESSING_DEADLINE_SECONDS", "0"),
        ("PROCESSING_DEADLINE_SECONDS", str(31 * 24 * 3600)),
    ],
)
def test_bad_value_in_environment_names_source_and_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {name: value})
    message = str(info.value)
    assert message.startswith("environment: ")
    assert name in message


@pytest.mark.parametrize("value", [1000, 262144 + 1, 5 * 10**6])
def test_chunk_size_is_a_preference_not_a_256_kib_multiple(value: int) -> None:
    # Each platform's chunk plan rounds it (providers/chunks.py); only nonsense is refused.
    assert load_settings(None, {"UPLOAD_CHUNK_BYTES": str(value)}).chunk_size == value


def test_bad_value_in_env_file_names_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "my.env"
    env_file.write_text("RENDER_LAYOUT=diagonal\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file, {})
    assert str(env_file) in str(info.value)
    assert "RENDER_LAYOUT" in str(info.value)


def test_bad_value_from_environment_is_not_blamed_on_the_env_file(tmp_path: Path) -> None:
    """The environment overrides .env; an error in the override must not point at the file."""
    env_file = tmp_path / "my.env"
    env_file.write_text("UPLOAD_FOLDER=/q\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file, {"RENDER_LAYOUT": "diagonal"})
    message = str(info.value)
    assert "RENDER_LAYOUT" in message
    assert str(env_file) not in message, message
    assert "environment" in message


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"RENDER_LAYOUT": "diagonal", "WINDOW_CONTEXT_PERCENTAGE": "7"})
    assert "RENDER_LAYOUT" in str(info.value)
    assert "WINDOW_CONTEXT_PERCENTAGE" in str(info.value)


def test_legacy_setting_warns_deprecation() -> None:
    with pytest.warns(DeprecationWarning, match="MAX_LLM_CHARS"):
        load_settings(None, {"MAX_LLM_CHARS": "4000"})


def test_secrets_are_secretstr_and_hidden_from_repr(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("YOUTUBE_CLIENT_SECRET=file-secret-value-123\n", encoding="utf-8")
    s = load_settings(env_file, {"TOKEN_FERNET_KEY": "env-fernet-key-value-456"})
    assert isinstance(s.secrets["YOUTUBE_CLIENT_SECRET"], SecretStr)
    assert s.secret("YOUTUBE_CLIENT_SECRET") == "file-secret-value-123"
    assert s.secret("TOKEN_FERNET_KEY") == "env-fernet-key-value-456"
    assert s.secret("X_CONSUMER_KEY") is None
    for text in (repr(s), str(s), s.model_dump_json()):
        assert "file-secret-value-123" not in text
        assert "env-fernet-key-value-456" not in text


def test_settings_are_frozen() -> None:
    s = load_settings(None, {})
    with pytest.raises(ValueError):
        s.upload_folder = Path("/elsewhere")  # type: ignore[misc]


# --- upload_config.json -------------------------------------------------------------------


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "upload_config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _valid() -> dict[str, Any]:
    return json.loads(EXAMPLES[0].read_text(encoding="utf-8"))


def test_an_example_config_exists() -> None:
    assert EXAMPLES, "no upload_config.example.json in the repo"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_example_config_loads_and_enables_every_platform_for_default(example: Path) -> None:
    cfg = load_upload_config(example)
    assert cfg.default_account in cfg.accounts
    assert sorted(cfg.platforms_for(cfg.default_account)) == sorted(PLATFORMS)
    assert cfg.platforms_for("nobody") == []


def test_disabled_platform_is_not_listed(tmp_path: Path) -> None:
    data = _valid()
    data["accounts"]["default"]["platforms"]["youtube"]["enabled"] = False
    listed = load_upload_config(_write(tmp_path, data)).platforms_for("default")
    assert "youtube" not in listed and sorted(listed) == sorted(set(PLATFORMS) - {"youtube"})


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "upload_config.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_valid()).encode())
    assert sorted(load_upload_config(path).platforms_for("default")) == sorted(PLATFORMS)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="not found") as info:
        load_upload_config(path)
    assert str(path) in str(info.value)


def test_invalid_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "upload_config.json"
    path.write_text('{"accounts": {', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        load_upload_config(path)
    assert str(path) in str(info.value)


def _error_for(tmp_path: Path, data: Any) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_upload_config(path)
    message = str(info.value)
    assert str(path) in message
    return message


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    data = _valid()
    data["accounts"]["default"]["platforms"]["youtube"]["colour"] = "red"
    message = _error_for(tmp_path, data)
    assert "accounts.default.platforms.youtube.colour" in message


def test_unknown_platform_names_its_path(tmp_path: Path) -> None:
    data = _valid()
    data["accounts"]["default"]["platforms"]["myspace"] = {"enabled": True}
    assert "accounts.default.platforms.myspace" in _error_for(tmp_path, data)


def test_privacy_value_not_allowed_names_its_path(tmp_path: Path) -> None:
    data = _valid()
    data["accounts"]["default"]["platforms"]["youtube"]["privacy"] = "friends"
    message = _error_for(tmp_path, data)
    assert "accounts.default.platforms.youtube.privacy" in message


def test_default_account_not_in_accounts(tmp_path: Path) -> None:
    data = _valid()
    data["default_account"] = "ghost"
    message = _error_for(tmp_path, data)
    assert "default_account" in message
    assert "ghost" in message


@pytest.mark.parametrize("name", ["..", ".", "my account", "a/b", "-x", ""])
def test_bad_account_name_is_rejected_naming_the_name(tmp_path: Path, name: str) -> None:
    data = _valid()
    data["accounts"][name] = data["accounts"]["default"]
    assert repr(name) in _error_for(tmp_path, data)


def test_bad_account_name_error_names_the_key_path(tmp_path: Path) -> None:
    """The message names where the fault is (``accounts``), not ``(top level)``."""
    data = _valid()
    data["accounts"][".."] = data["accounts"]["default"]
    message = _error_for(tmp_path, data)
    assert "accounts" in message, message


def test_bad_default_account_name_names_the_key(tmp_path: Path) -> None:
    data = _valid()
    data["default_account"] = ".."
    assert "default_account" in _error_for(tmp_path, data)


def test_top_level_not_an_object(tmp_path: Path) -> None:
    _error_for(tmp_path, ["not", "an", "object"])


def test_schema_is_a_json_schema_of_accounts() -> None:
    schema = upload_config_schema()
    assert schema["type"] == "object"
    assert "accounts" in schema["properties"]
    assert "accounts" in schema.get("required", [])
    json.dumps(schema)  # serialisable as written to docs/


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("myspace", "unknown platform 'myspace'"),
        *(
            (p, f"platform {p!r} is planned but not built yet")
            for p in PLANNED_PLATFORMS
            if p not in SPECS
        ),
    ],
)
def test_unknown_platform_names_the_known_and_the_planned_ones(
    tmp_path: Path, name: str, why: str
) -> None:
    data = _valid()
    data["accounts"]["default"]["platforms"][name] = {"enabled": True}
    (line,) = _error_for(tmp_path, data).splitlines()
    known = ", ".join(sorted(SPECS))  # every registered platform
    assert f"accounts.default.platforms.{name}: {why}; known: {known}" in line, line
    assert "Extra inputs are not permitted" not in line
    for planned in (p for p in PLANNED_PLATFORMS if p not in SPECS):
        assert planned in line.split("not built yet: ")[-1], line
