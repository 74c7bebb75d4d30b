"""Snapchat's declarations (``SPEC``) and the registry's factory (``build``)."""

from __future__ import annotations

from atroposd.errors import ConfigError
from atroposd.providers.base import ProviderContext
from atroposd.providers.chunks import MIB
from atroposd.providers.snapchat.account import SnapchatAccount
from atroposd.providers.snapchat.errors import NAME
from atroposd.providers.snapchat.provider import SnapchatProvider
from atroposd.providers.spec import PlatformSpec

TOKEN_URL = "https://accounts.snapchat.com/login/oauth2/access_token"
API_BASE = "https://businessapi.snapchat.com"
PART_BYTES = 32 * MIB  # Snap's largest part (``split -b 32m``); tests set SNAPCHAT_PART_BYTES

SPEC = PlatformSpec(
    account=SnapchatAccount,
    secrets=("SNAPCHAT_CLIENT_ID", "SNAPCHAT_CLIENT_SECRET"),
    settings=("SNAPCHAT_TOKEN_URL", "SNAPCHAT_API_BASE", "SNAPCHAT_PART_BYTES"),
    account_id="SNAPCHAT_PROFILE_ID",
    id_field="profile_id",
)


def _part_bytes(ctx: ProviderContext) -> int:
    raw = ctx.override("SNAPCHAT_PART_BYTES")
    if raw is None:
        return PART_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f".env: SNAPCHAT_PART_BYTES: a positive number of bytes, not {raw!r}")
    return value


def build(ctx: ProviderContext) -> SnapchatProvider:
    """Hosts from settings (sandbox: ``SANDBOX_URL/snapchat/<real path>``), client secrets."""
    root = f"{ctx.sandbox_url.rstrip('/')}/{NAME}"
    token_url = ctx.override("SNAPCHAT_TOKEN_URL") or (
        f"{root}/login/oauth2/access_token" if ctx.sandbox else TOKEN_URL
    )
    api_base = ctx.override("SNAPCHAT_API_BASE") or (root if ctx.sandbox else API_BASE)
    client_id = ctx.secret("SNAPCHAT_CLIENT_ID") or ("sandbox-client-id" if ctx.sandbox else "")
    secret = ctx.secret("SNAPCHAT_CLIENT_SECRET") or (
        "sandbox-client-secret" if ctx.sandbox else ""
    )
    missing = [
        n
        for n, v in (("SNAPCHAT_CLIENT_ID", client_id), ("SNAPCHAT_CLIENT_SECRET", secret))
        if not v
    ]
    if missing:
        raise ConfigError(
            f".env: {', '.join(missing)}: required in production when snapchat is enabled "
            "(the OAuth app of your Snap Business Manager organisation, allowlisted by Snap)"
        )
    return SnapchatProvider(
        ctx.http,
        token_url,
        api_base,
        ctx.credentials,
        (client_id, secret),
        ctx.clock,
        _part_bytes(ctx),
        lambda account: ctx.account_id(NAME, account),
    )
