"""Every platform's login plan by name (``atroposd auth``); a new provider adds one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from atroposd.providers.auth.flows import LoginPlan
from atroposd.providers.base import ProviderContext
from atroposd.providers.facebook import login as facebook
from atroposd.providers.instagram import login as instagram
from atroposd.providers.snapchat import login as snapchat
from atroposd.providers.tiktok import login as tiktok
from atroposd.providers.x import login as x
from atroposd.providers.youtube import login as youtube

Options = Mapping[str, object]  # the account's platform block in upload_config.json

LOGINS: dict[str, Callable[[ProviderContext, str, Options], LoginPlan]] = {
    "youtube": lambda ctx, account, options: youtube.plan(ctx, account),
    "instagram": lambda ctx, account, options: instagram.plan(ctx, account),
    "facebook": lambda ctx, account, options: facebook.plan(ctx, account),
    "tiktok": lambda ctx, account, options: tiktok.plan(ctx, account),
    "snapchat": lambda ctx, account, options: snapchat.plan(ctx, account),
    "x": lambda ctx, account, options: x.plan(ctx, account, _text(options.get("auth"))),
}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
