"""Settings from ``.env``/environment and the per-account ``upload_config.json``.

Both are validated once at start-up; a fault becomes one ``ConfigError`` naming the file,
the key and what is wrong (the CLI prints it and exits 2).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dotenv import dotenv_values
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from atroposd.errors import ConfigError
from atroposd.providers import SPECS
from atroposd.providers.spec import PLATFORM_NAMES, PlatformSpec
from atroposd.render.layouts import known_layout_name
from atroposd.schedule.model import ScheduleConfig

# Each platform declares the .env names it reads (providers/spec.py); these are the names of
# platforms not built yet, read now so that they are redacted from logs all the same.
PLANNED_SECRETS = (
    "API_TOKEN",
    "META_CLIENT_ID",
    "META_CLIENT_SECRET",
    "IG_BUSINESS_ID",
    "FACEBOOK_PAGE_ID",
    "TIKTOK_CLIENT_KEY",
    "TIKTOK_CLIENT_SECRET",
    "SNAPCHAT_CLIENT_ID",
    "SNAPCHAT_CLIENT_SECRET",
    "SNAPCHAT_PROFILE_ID",
    "X_CONSUMER_KEY",
    "X_CONSUMER_SECRET",
)
SECRET_NAMES = tuple(
    dict.fromkeys(
        (
            "TOKEN_FERNET_KEY",
            *PLANNED_SECRETS,
            *(n for spec in SPECS.values() for n in spec.secret_names()),
        )
    )
)
SETTING_NAMES = tuple(dict.fromkeys(n for spec in SPECS.values() for n in spec.settings))
LEGACY_NAMES = (
    "MAX_LLM_CHARS",
    "LOCAL_LLM_PROVIDER",
    "LOCAL_LLM_MODEL",
    "WHISPER_MODEL",
    "START_AT_STEP",
    "CLEANUP_NON_SHORTS",
)
LAYOUTS = ("centered", "centered_with_corners", "no_zoom", "left_aligned")
ACCOUNT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Settings(BaseModel):
    """Process-wide settings; field aliases are the environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    environment: Literal["sandbox", "production"] = Field(
        "sandbox", validation_alias=AliasChoices("ENVIRONMENT", "SERVER_ENV")
    )
    upload_folder: Path = Field(Path("upload_queue"), alias="UPLOAD_FOLDER")
    out_root: Path = Field(Path("out"), alias="OUT_ROOT")
    tokens_dir: Path = Field(Path("tokens"), alias="TOKENS_DIR")
    state_dir: Path = Field(Path(".atroposd"), alias="STATE_DIR")
    archive_dir: Path = Field(Path("posted"), alias="ARCHIVE_DIR")
    delete_uploaded_clips: bool = Field(False, alias="DELETE_UPLOADED_CLIPS")
    sandbox_url: str = Field("http://127.0.0.1:8788", alias="SANDBOX_URL")
    upload_config: Path = Field(Path("upload_config.json"), alias="UPLOAD_CONFIG")
    # A built-in layout or a <name>.json in LAYOUTS_DIR (checked by _layout_known).
    render_layout: str = Field("centered", alias="RENDER_LAYOUT")
    # Rendering (render/): user layouts, the encoder, where renders and platform variants go.
    layouts_dir: Path | None = Field(None, alias="LAYOUTS_DIR")
    render_encoder: Literal["libx264", "h264_nvenc", "h264_vaapi"] = Field(
        "libx264", alias="RENDER_ENCODER"
    )
    render_cache_dir: Path | None = Field(None, alias="RENDER_CACHE_DIR")  # None: STATE_DIR/renders
    window_context_percentage: float = Field(
        0.11, ge=0.0, le=1.0, alias="WINDOW_CONTEXT_PERCENTAGE"
    )
    # Logins (providers/auth, vault): refresh this long before an access token expires.
    token_refresh_margin: float = Field(600.0, gt=0, alias="TOKEN_REFRESH_MARGIN_SECONDS")
    # Local API (api/): loopback by default; API_TOKEN is a secret (else STATE_DIR/api-token).
    api_enabled: bool = Field(True, alias="API_ENABLED")
    api_host: str = Field("127.0.0.1", alias="API_HOST")
    api_port: int = Field(8787, ge=0, le=65535, alias="API_PORT")
    api_cors_origins: str = Field("", alias="API_CORS_ORIGINS")  # comma-separated; empty: off
    # Notifications (run-out warnings, posts needing attention, failed posts).
    notify_webhook_url: str | None = Field(None, alias="NOTIFY_WEBHOOK_URL")
    notify_command: str | None = Field(None, alias="NOTIFY_COMMAND")
    runout_warn_days: float = Field(3.0, ge=0, alias="RUNOUT_WARN_DAYS")
    # systemd / shutdown: in-flight uploads get this long to reach a resumable point.
    shutdown_grace: float = Field(20.0, ge=0, le=3600, alias="SHUTDOWN_GRACE_SECONDS")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", alias="LOG_LEVEL")
    settle_seconds: float = Field(2.0, gt=0, alias="SETTLE_SECONDS")
    # The safety net behind inotify (an overflow rescans at once): 15 min keeps a 10,000-folder
    # tree idle at < 0.1 % of a core (bench/idle.py); set 60 on a network share (no events).
    rescan_seconds: float = Field(900.0, gt=0, alias="RESCAN_SECONDS")
    fragmented_settle_seconds: float = Field(30.0, gt=0, alias="FRAGMENTED_SETTLE_SECONDS")
    reconcile_seconds: float = Field(60.0, gt=0, alias="RECONCILE_SECONDS")
    # A preference: each platform's chunk plan rounds and clamps it (providers/chunks.py).
    chunk_size: int = Field(8 * 1024 * 1024, ge=1, le=1 << 30, alias="UPLOAD_CHUNK_BYTES")
    max_attempts: int = Field(16, ge=1, le=100, alias="MAX_ATTEMPTS")
    processing_deadline: float = Field(
        6 * 3600.0, gt=0, le=30 * 24 * 3600.0, alias="PROCESSING_DEADLINE_SECONDS"
    )
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    platform_settings: dict[str, str] = Field(default_factory=dict)  # SETTING_NAMES found

    @field_validator("render_layout")
    @classmethod
    def _layout_known(cls, value: str, info: ValidationInfo) -> str:
        folder = (info.context or {}).get("LAYOUTS_DIR")
        return known_layout_name(value, Path(folder) if folder else None)

    @field_validator("sandbox_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def sandbox(self) -> bool:
        """True when every platform points at the local emulator."""
        return self.environment == "sandbox"

    def secret(self, name: str) -> str | None:
        """The plain value of one secret from ``.env``, or None."""
        value = self.secrets.get(name)
        return value.get_secret_value() if value is not None else None


def _merged_env(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """``.env`` values overridden by the real environment, as python-dotenv users expect."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    return merged


# Platforms with an issue of their own but no provider yet (a config naming one is refused).
PLANNED_PLATFORMS = ("instagram", "facebook", "tiktok", "snapchat", "x")


def _unknown_platform(name: str) -> str:
    """Why ``name`` cannot be a platform block: the known ones, and the ones not built yet."""
    known = sorted(PlatformsConfig.model_fields)
    planned = [p for p in PLANNED_PLATFORMS if p not in known]
    if name in planned:
        why = f"platform {name!r} is planned but not built yet"
    else:
        why = f"unknown platform {name!r}"
    text = f"{why}; known: {', '.join(known)}"
    return text + (f"; not built yet: {', '.join(planned)}" if planned else "")


def _format_errors(source: str, exc: ValidationError) -> str:
    """One line per fault: file, dotted key path, what is wrong."""
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        key = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden" and len(loc) == 4 and loc[2] == "platforms":
            msg = _unknown_platform(str(loc[-1]))
        lines.append(f"{source}: {key}: {msg}")
    return "\n".join(lines)


def load_settings(
    env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None
) -> Settings:
    """Read ``.env`` + environment into validated ``Settings`` or raise ``ConfigError``."""
    env = _merged_env(env_file, os.environ if environ is None else environ)
    for name in LEGACY_NAMES:
        if name in env:
            warnings.warn(
                f"{name} is deprecated and ignored by atroposd", DeprecationWarning, stacklevel=2
            )
    data: dict[str, Any] = {k: v for k, v in env.items() if k.isupper()}
    if "LOG_LEVEL" in data:
        data["LOG_LEVEL"] = data["LOG_LEVEL"].lower()
    data = {k: v for k, v in data.items() if v != "" or k in ("ENVIRONMENT", "SERVER_ENV")}
    data["secrets"] = {n: env[n] for n in SECRET_NAMES if env.get(n)}
    data["platform_settings"] = {n: env[n] for n in SETTING_NAMES if env.get(n)}
    try:
        return Settings.model_validate(data, context={"LAYOUTS_DIR": data.get("LAYOUTS_DIR")})
    except ValidationError as exc:
        real = os.environ if environ is None else environ
        file = str(env_file) if env_file is not None else "environment"
        lines = []
        for err in exc.errors():
            key = str(err["loc"][0]) if err["loc"] else "(top level)"
            where = "environment" if key in real or key == "secrets" else file
            lines.append(f"{where}: {key}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None


class _Platforms(BaseModel):
    """The platforms of one account; a missing platform is disabled."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def enabled(self) -> list[str]:
        """Names of the platforms turned on for this account."""
        return [name for name in type(self).model_fields if self.is_enabled(name)]

    def is_enabled(self, name: str) -> bool:
        """True when ``name`` is configured and enabled."""
        value = getattr(self, name, None)
        return bool(value is not None and value.enabled)


def _with_schedule(model: type[BaseModel]) -> type[BaseModel]:
    """A platform's own block plus an optional ``schedule`` overriding the account's."""
    return create_model(
        model.__name__,
        __base__=model,
        __doc__=model.__doc__,
        schedule=(ScheduleConfig | None, None),
    )


# One optional block per registered platform, of the model its provider declares.
if TYPE_CHECKING:
    PlatformsConfig = _Platforms
else:
    PlatformsConfig = create_model(
        "PlatformsConfig",
        __base__=_Platforms,
        __doc__=_Platforms.__doc__,
        **{name: (_with_schedule(spec.account) | None, None) for name, spec in SPECS.items()},
    )


class AccountConfig(BaseModel):
    """One account (a creator or a client of an agency)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str | None = None
    platforms: PlatformsConfig = PlatformsConfig()
    # When the account posts (schedule/); a platform's own ``schedule`` overrides it.
    schedule: ScheduleConfig | None = None
    # The account's default render layout (render/); None: RENDER_LAYOUT.
    layout: str | None = None
    ids: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The account's own ids on platforms whose API needs one, by platform name: "
            "instagram = the Instagram professional account (IG user) id, facebook = the "
            "Page id, snapchat = the public profile id. For the default account the .env "
            "values (IG_BUSINESS_ID, FACEBOOK_PAGE_ID, SNAPCHAT_PROFILE_ID) are the fallback."
        ),
    )

    @field_validator("ids")
    @classmethod
    def _ids(cls, ids: dict[str, str]) -> dict[str, str]:
        for platform, value in ids.items():
            if platform not in PLATFORM_NAMES:
                raise ValueError(f"{platform!r} is not a platform (one of {list(PLATFORM_NAMES)})")
            if not value.strip() or value != value.strip():
                raise ValueError(f"{platform}: the id must be non-empty, without spaces around")
        return ids


class UploadConfig(BaseModel):
    """``upload_config.json``: accounts, the default account, platforms per account."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_ref: str | None = Field(None, alias="$schema")
    default_account: str = Field("default", pattern=ACCOUNT_PATTERN)
    accounts: dict[str, AccountConfig]

    @field_validator("accounts")
    @classmethod
    def _names(cls, accounts: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        for name in accounts:
            if not re.match(ACCOUNT_PATTERN, name) or name in (".", ".."):
                raise ValueError(
                    f"account name {name!r}: use up to 64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit"
                )
        return accounts

    @model_validator(mode="after")
    def _check(self) -> UploadConfig:
        if self.default_account not in self.accounts:
            raise ValueError(f"default_account {self.default_account!r} is not in accounts")
        return self

    def choices_on(self, platform: str) -> dict[str, dict[str, object]]:
        """Each account enabling ``platform``, with its block's choices, by account name."""
        return {
            name: getattr(acc.platforms, platform).model_dump()
            for name, acc in sorted(self.accounts.items())
            if acc.platforms.is_enabled(platform)
        }

    def platforms_for(self, account: str) -> list[str]:
        """Enabled platforms of ``account`` (empty when the account is unknown)."""
        acc = self.accounts.get(account)
        return acc.platforms.enabled() if acc else []


def load_upload_config(path: Path) -> UploadConfig:
    """Read and validate ``upload_config.json`` or raise ``ConfigError``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: file not found (copy upload_config.example.json to {path})"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    try:
        return UploadConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(str(path), exc)) from None


def upload_config_schema() -> dict[str, Any]:
    """The JSON Schema of ``upload_config.json``."""
    return UploadConfig.model_json_schema()


def platform_id(
    config: UploadConfig,
    settings: Settings,
    account: str,
    platform: str,
    specs: Mapping[str, PlatformSpec] = SPECS,
) -> str | None:
    """The account's own id on ``platform`` (Instagram user, Facebook Page, Snapchat profile).

    From the account's ``ids`` in upload_config.json; for the default account only, the
    platform's declared ``.env`` fallback (``PlatformSpec.account_id``); else None.
    """
    acc = config.accounts.get(account)
    spec = specs.get(platform)
    if acc is not None and spec is not None and spec.id_field:
        choices = getattr(acc.platforms, platform, None)
        value = getattr(choices, spec.id_field, None) if choices is not None else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    if acc is not None and platform in acc.ids:
        return acc.ids[platform]
    fallback = spec.account_id if spec is not None else None
    if fallback and account == config.default_account:
        return settings.secret(fallback)
    return None


def missing_platform_ids(
    config: UploadConfig, settings: Settings, specs: Mapping[str, PlatformSpec] = SPECS
) -> list[str]:
    """One line per enabled (account, platform) whose platform needs an account id it lacks.

    Checked at start-up in production, so a missing Page or profile id is a config error
    naming the key instead of a failed post later. Sandbox posts go to the emulator.
    """
    if settings.sandbox:
        return []
    lines = []
    for account, acc in sorted(config.accounts.items()):
        for platform in acc.platforms.enabled():
            spec = specs.get(platform)
            if spec is None or spec.account_id is None:
                continue
            if platform_id(config, settings, account, platform, specs) is None:
                fallback = (
                    f" (or {spec.account_id} in .env)" if account == config.default_account else ""
                )
                key = (
                    f"platforms.{platform}.{spec.id_field}" if spec.id_field else f"ids.{platform}"
                )
                lines.append(
                    f"{settings.upload_config}: accounts.{account}.{key}: required, "
                    f"the account's own {platform} id{fallback}"
                )
    return lines
