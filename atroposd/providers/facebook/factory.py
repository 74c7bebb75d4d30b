"""How the registry builds the Facebook provider, and what it reads from configuration."""

from __future__ import annotations

import hashlib

from atroposd.errors import ConfigError, PermanentError
from atroposd.providers.base import ProviderContext
from atroposd.providers.facebook.account import PAGE_ID_HINT, FacebookAccount, is_page_id
from atroposd.providers.facebook.pages import PageOf, PageTokens
from atroposd.providers.facebook.provider import NAME, FacebookProvider
from atroposd.providers.meta import (
    APP_ID,
    APP_SECRET,
    GRAPH_VERSION_SETTING,
    graph_root,
    graph_version,
    meta_token_endpoint,
)
from atroposd.providers.spec import PlatformSpec

GRAPH_BASE_SETTING = "FACEBOOK_GRAPH_BASE"  # another Graph host for Facebook (no version)

SPEC = PlatformSpec(
    account=FacebookAccount,
    secrets=(APP_ID, APP_SECRET),
    settings=(GRAPH_VERSION_SETTING, GRAPH_BASE_SETTING),
    account_id="FACEBOOK_PAGE_ID",
    id_field="page_id",
)


def sandbox_page_id(account: str) -> str:
    """A stable numeric stand-in Page id for a sandbox account without one."""
    digest = int(hashlib.sha256(f"facebook-page:{account}".encode()).hexdigest(), 16)
    return str(10**14 + digest % (9 * 10**14))


def _page_finder(ctx: ProviderContext) -> PageOf:
    def page_of(account: str) -> str:
        page_id = (ctx.account_id(NAME, account) or "").strip()
        if page_id and not is_page_id(page_id):  # from ids.facebook or FACEBOOK_PAGE_ID
            raise PermanentError(
                f"account {account!r}: Facebook Page id {page_id!r}: {PAGE_ID_HINT}; fix "
                f"accounts.{account}.ids.facebook in upload_config.json (or FACEBOOK_PAGE_ID "
                "in .env for the default account), then `atroposd retry` the post",
                platform=NAME,
                code="badPageId",
            )
        if page_id:
            return page_id
        if ctx.sandbox:
            return sandbox_page_id(account)
        raise PermanentError(
            f"account {account!r} has no Facebook Page id: set "
            f"accounts.{account}.platforms.facebook.page_id in upload_config.json "
            "(or FACEBOOK_PAGE_ID in .env for the default account)",
            platform=NAME,
            code="noPageId",
        )

    return page_of


def build(ctx: ProviderContext) -> FacebookProvider:
    """The registry's factory: the Graph root (sandbox or production), the app credentials."""
    base = ctx.override(GRAPH_BASE_SETTING)
    root = f"{base.rstrip('/')}/{graph_version(ctx)}" if base else graph_root(ctx, NAME)
    app_id = ctx.secret(APP_ID) or ("sandbox-meta-app-id" if ctx.sandbox else "")
    secret = ctx.secret(APP_SECRET) or ("sandbox-meta-app-secret" if ctx.sandbox else "")
    missing = [n for n, v in ((APP_ID, app_id), (APP_SECRET, secret)) if not v]
    if missing:
        raise ConfigError(
            f".env: {', '.join(missing)}: required in production when facebook is enabled "
            "(the Meta app's id and secret)"
        )
    endpoint = meta_token_endpoint(NAME, f"{root}/oauth/access_token", app_id, secret)
    page_of = _page_finder(ctx)
    tokens = PageTokens(ctx.http, endpoint, ctx.credentials, ctx.clock, root, page_of, ctx.sandbox)
    return FacebookProvider(ctx.http, root, tokens, ctx.clock, ctx.chunk_size, page_of)
