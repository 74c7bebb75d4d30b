"""How the registry builds the Instagram provider: endpoints, settings, secrets."""

from __future__ import annotations

from dataclasses import dataclass

from atroposd.errors import ConfigError
from atroposd.providers.base import ProviderContext
from atroposd.providers.instagram.account import InstagramAccount
from atroposd.providers.instagram.provider import InstagramProvider
from atroposd.providers.instagram.remote import NAME
from atroposd.providers.meta import APP_ID, APP_SECRET, GRAPH_VERSION_SETTING, graph_version
from atroposd.providers.meta.graph import GRAPH_HOST
from atroposd.providers.spec import PlatformSpec

RUPLOAD_HOST = "https://rupload.facebook.com"


@dataclass(frozen=True)
class InstagramEndpoints:
    """The Graph root with its version, e.g. ``https://graph.facebook.com/v26.0``, and the
    upload URL of a container whose answer has no ``uri`` (``<rupload>/<container id>``)."""

    graph: str
    rupload: str

    @classmethod
    def of(cls, ctx: ProviderContext) -> InstagramEndpoints:
        """Production, sandbox (``SANDBOX_URL/instagram/<ver>``) or ``INSTAGRAM_GRAPH_BASE``
        (its upload host then under ``<base>/rupload``, as the emulator serves it)."""
        sandbox = f"{ctx.sandbox_url.rstrip('/')}/{NAME}" if ctx.sandbox else None
        base = (ctx.override("INSTAGRAM_GRAPH_BASE") or sandbox or GRAPH_HOST).rstrip("/")
        upload = RUPLOAD_HOST if base == GRAPH_HOST else f"{base}/rupload"
        version = graph_version(ctx)
        return cls(f"{base}/{version}", f"{upload}/ig-api-upload/{version}")


SPEC = PlatformSpec(
    account=InstagramAccount,
    secrets=(APP_ID, APP_SECRET),
    settings=(GRAPH_VERSION_SETTING, "INSTAGRAM_GRAPH_BASE"),
    account_id="IG_BUSINESS_ID",
    id_field="ig_user_id",
)


def build(ctx: ProviderContext) -> InstagramProvider:
    """The registry's factory: Graph root and version from settings, the Meta app's secrets."""
    app_id = ctx.secret(APP_ID) or ("sandbox-meta-app-id" if ctx.sandbox else "")
    secret = ctx.secret(APP_SECRET) or ("sandbox-meta-app-secret" if ctx.sandbox else "")
    missing = [name for name, value in ((APP_ID, app_id), (APP_SECRET, secret)) if not value]
    if missing:
        raise ConfigError(
            f".env: {', '.join(missing)}: required in production when instagram is enabled "
            "(the Meta app you log in through, developers.facebook.com)"
        )
    endpoints = InstagramEndpoints.of(ctx)
    return InstagramProvider(
        ctx.http,
        endpoints.graph,
        ctx.credentials,
        (app_id, secret),
        ctx.clock,
        ctx.chunk_size,
        lambda account: ctx.account_id(NAME, account),
        ctx.sandbox,
        endpoints.rupload,
    )
