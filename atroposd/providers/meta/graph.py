"""The Graph API version and hosts (providers.md §2.1).

The version is a setting (``META_GRAPH_VERSION``, default ``v26.0``: the newest release the
reference confirms, 2026-07-29; v25.0 stays available until 2028-07-29). In sandbox every Meta
platform lives under ``SANDBOX_URL/<platform>/<version>/...`` (the emulator accepts any
``vNN.N``).
"""

from __future__ import annotations

import re

from atroposd.errors import ConfigError
from atroposd.providers.base import ProviderContext

GRAPH_VERSION_SETTING = "META_GRAPH_VERSION"
APP_ID = "META_CLIENT_ID"  # .env (as .env.example names them): the Meta app both use
APP_SECRET = "META_CLIENT_SECRET"
DEFAULT_GRAPH_VERSION = "v26.0"
GRAPH_HOST = "https://graph.facebook.com"
_VERSION = re.compile(r"v\d+\.\d+")


def graph_version(ctx: ProviderContext) -> str:
    """The configured Graph API version (``vNN.N``); ``ConfigError`` when malformed."""
    value = (ctx.override(GRAPH_VERSION_SETTING) or DEFAULT_GRAPH_VERSION).strip()
    if not _VERSION.fullmatch(value):
        raise ConfigError(
            f".env: {GRAPH_VERSION_SETTING}={value!r}: expected a Graph API version such as "
            f"{DEFAULT_GRAPH_VERSION}"
        )
    return value


def graph_root(ctx: ProviderContext, platform: str, production: str = GRAPH_HOST) -> str:
    """``https://graph.facebook.com/<ver>``, or ``SANDBOX_URL/<platform>/<ver>`` in sandbox."""
    base = f"{ctx.sandbox_url.rstrip('/')}/{platform}" if ctx.sandbox else production
    return f"{base.rstrip('/')}/{graph_version(ctx)}"
