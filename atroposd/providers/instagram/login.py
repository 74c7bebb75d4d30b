"""Facebook Login for Instagram (``providers/meta/login.py``): the Instagram account the
account posts to must be the one linked to a Page the person manages (to the account's
Facebook Page when it has one configured)."""

from __future__ import annotations

from atroposd.providers.auth.flows import LoginPlan
from atroposd.providers.base import ProviderContext
from atroposd.providers.instagram.factory import InstagramEndpoints
from atroposd.providers.instagram.remote import NAME
from atroposd.providers.meta import APP_ID, APP_SECRET, graph_version
from atroposd.providers.meta.login import MetaApp, dialog_url, meta_plan

SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "pages_read_engagement",
    "pages_show_list",
)


def plan(ctx: ProviderContext, account: str) -> LoginPlan:
    """The Instagram login, from the settings the provider is built from."""
    graph = InstagramEndpoints.of(ctx).graph
    app = MetaApp(
        platform=NAME,
        graph=graph,
        dialog=dialog_url(ctx.sandbox, graph, graph_version(ctx)),
        app_id=ctx.secret(APP_ID) or ("sandbox-meta-app-id" if ctx.sandbox else ""),
        app_secret=ctx.secret(APP_SECRET) or ("sandbox-meta-app-secret" if ctx.sandbox else ""),
        scopes=SCOPES,
        page_id=ctx.account_id("facebook", account),
        ig_user_id=ctx.account_id(NAME, account),
        where=f"accounts.{account}.platforms.instagram.ig_user_id or ids.instagram",
        hint_ids=not ctx.sandbox,
        required=("instagram_basic", "instagram_content_publish"),
    )
    return meta_plan(app)
