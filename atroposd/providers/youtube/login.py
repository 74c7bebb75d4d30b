"""Google's login for YouTube (providers.md §1.1): authorization code + PKCE (S256), offline
access with ``prompt=consent`` so a refresh token is always issued, revoked at logout."""

from __future__ import annotations

import httpx

from atroposd.providers.auth.flows import LoginPlan, code_plan, post_revoke
from atroposd.providers.auth.login import CodeFlow
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.providers.youtube.errors import NAME
from atroposd.providers.youtube.provider import YouTubeEndpoints

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
# Upload, plus read access for the channel's uploads list (reconciliation after a lost session).
SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
)


def plan(ctx: ProviderContext, account: str) -> LoginPlan:
    """The YouTube login, from the settings the provider is built from."""
    root = f"{ctx.sandbox_url.rstrip('/')}/{NAME}"
    ends = YouTubeEndpoints
    base = ends.sandbox(ctx.sandbox_url) if ctx.sandbox else ends.production()
    token_url = ctx.override("YOUTUBE_TOKEN_URL") or base.token_url
    flow = CodeFlow(
        platform=NAME,
        authorize_url=f"{root}/o/oauth2/v2/auth" if ctx.sandbox else AUTHORIZE_URL,
        token_url=token_url,
        client_id=ctx.secret("YOUTUBE_CLIENT_ID") or ("sandbox-client-id" if ctx.sandbox else ""),
        client_secret=ctx.secret("YOUTUBE_CLIENT_SECRET")
        or ("sandbox-client-secret" if ctx.sandbox else ""),
        scopes=SCOPES,
        required=("https://www.googleapis.com/auth/youtube.upload",),
        params={"access_type": "offline", "prompt": "consent"},
    )
    revoke_url = f"{root}/revoke" if ctx.sandbox else REVOKE_URL

    async def revoke(http: httpx.AsyncClient, creds: Credentials) -> None:
        # Revoking the refresh token ends the whole grant (its access tokens too).
        token = creds.refresh_token or creds.access_token
        await post_revoke(http, NAME, revoke_url, {"token": token})

    return code_plan(flow, revoke)
