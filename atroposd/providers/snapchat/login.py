"""Snap's OAuth for the Public Profile API (providers.md §6.1): authorization code (no PKCE
documented for it), scope ``snapchat-profile-api``. Snap documents no revocation endpoint: at
logout the token file is removed and the user is told where to remove the app's access."""

from __future__ import annotations

from atroposd.providers.auth.flows import LoginPlan, code_plan
from atroposd.providers.auth.login import CodeFlow
from atroposd.providers.base import ProviderContext
from atroposd.providers.snapchat.errors import NAME
from atroposd.providers.snapchat.factory import TOKEN_URL

AUTHORIZE_URL = "https://accounts.snapchat.com/login/oauth2/authorize"
SCOPES = ("snapchat-profile-api",)


def plan(ctx: ProviderContext, account: str) -> LoginPlan:
    """The Snapchat login, from the settings the provider is built from."""
    root = f"{ctx.sandbox_url.rstrip('/')}/{NAME}"
    token_url = ctx.override("SNAPCHAT_TOKEN_URL") or (
        f"{root}/login/oauth2/access_token" if ctx.sandbox else TOKEN_URL
    )
    flow = CodeFlow(
        platform=NAME,
        authorize_url=f"{root}/login/oauth2/authorize" if ctx.sandbox else AUTHORIZE_URL,
        token_url=token_url,
        client_id=ctx.secret("SNAPCHAT_CLIENT_ID") or ("sandbox-client-id" if ctx.sandbox else ""),
        client_secret=ctx.secret("SNAPCHAT_CLIENT_SECRET")
        or ("sandbox-client-secret" if ctx.sandbox else ""),
        scopes=SCOPES,
        required=("snapchat-profile-api",),
        pkce=None,
    )
    return code_plan(
        flow,
        no_revoke=(
            "Snapchat has no endpoint to revoke a login: remove the app's access in Snap "
            "Business Manager (Business Details, OAuth apps) if it should end there too"
        ),
    )
