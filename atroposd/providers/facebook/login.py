"""Facebook Login for a Page (``providers/meta/login.py``): the Page id the account posts to
must be one the person manages, with a Page token."""

from __future__ import annotations

from atroposd.providers.auth.flows import LoginPlan
from atroposd.providers.base import ProviderContext
from atroposd.providers.facebook.factory import GRAPH_BASE_SETTING, sandbox_page_id
from atroposd.providers.facebook.provider import NAME
from atroposd.providers.meta import APP_ID, APP_SECRET, graph_root, graph_version
from atroposd.providers.meta.login import MetaApp, dialog_url, meta_plan

SCOPES = ("pages_show_list", "pages_read_engagement", "pages_manage_posts")


def plan(ctx: ProviderContext, account: str) -> LoginPlan:
    """The Facebook login, from the settings the provider is built from."""
    base = ctx.override(GRAPH_BASE_SETTING)
    version = graph_version(ctx)
    graph = f"{base.rstrip('/')}/{version}" if base else graph_root(ctx, NAME)
    page = ctx.account_id(NAME, account) or (sandbox_page_id(account) if ctx.sandbox else None)
    app = MetaApp(
        platform=NAME,
        graph=graph,
        dialog=dialog_url(ctx.sandbox, graph, version),
        app_id=ctx.secret(APP_ID) or ("sandbox-meta-app-id" if ctx.sandbox else ""),
        app_secret=ctx.secret(APP_SECRET) or ("sandbox-meta-app-secret" if ctx.sandbox else ""),
        scopes=SCOPES,
        page_id=page,
        ig_user_id=None,
        where=f"accounts.{account}.platforms.facebook.page_id or ids.facebook",
        hint_ids=not ctx.sandbox,
        required=("pages_manage_posts",),
    )
    return meta_plan(app)
