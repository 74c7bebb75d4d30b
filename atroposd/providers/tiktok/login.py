"""TikTok's Login Kit for Desktop (providers.md §5.1): authorization code with PKCE (the
challenge is the SHA-256 of the verifier as hex, as TikTok's desktop guide computes it), a
loopback redirect (register ``http://127.0.0.1:*/callback`` or the ``--port`` used), scopes
comma-separated, ``client_key`` for the client id; ``POST /v2/oauth/revoke/`` at logout."""

from __future__ import annotations

import httpx

from atroposd.providers.auth.flows import LoginPlan, code_plan, post_revoke
from atroposd.providers.auth.login import CodeFlow
from atroposd.providers.base import Credentials, ProviderContext
from atroposd.providers.tiktok.errors import NAME
from atroposd.providers.tiktok.wire import TikTokEndpoints

AUTHORIZE_URL = "https://www.tiktok.com/v2/auth/authorize/"
SCOPES = ("user.info.basic", "video.publish")


def plan(ctx: ProviderContext, account: str) -> LoginPlan:
    """The TikTok login, from the settings the provider is built from."""
    base = TikTokEndpoints.sandbox(ctx.sandbox_url) if ctx.sandbox else TikTokEndpoints.production()
    token_url = ctx.override("TIKTOK_TOKEN_URL") or base.token_url
    key = ctx.secret("TIKTOK_CLIENT_KEY") or ("sandbox-client-key" if ctx.sandbox else "")
    secret = ctx.secret("TIKTOK_CLIENT_SECRET") or ("sandbox-client-secret" if ctx.sandbox else "")
    root = f"{ctx.sandbox_url.rstrip('/')}/{NAME}"
    flow = CodeFlow(
        platform=NAME,
        authorize_url=f"{root}/v2/auth/authorize/" if ctx.sandbox else AUTHORIZE_URL,
        token_url=token_url,
        client_id=key,
        client_secret=secret,
        scopes=SCOPES,
        required=("video.publish",),
        scope_sep=",",
        client_id_param="client_key",
        pkce="hex",
    )
    revoke_url = token_url.replace("/oauth/token/", "/oauth/revoke/")

    async def revoke(http: httpx.AsyncClient, creds: Credentials) -> None:
        form = {"client_key": key, "client_secret": secret, "token": creds.access_token}
        await post_revoke(http, NAME, revoke_url, form)

    return code_plan(flow, revoke)
