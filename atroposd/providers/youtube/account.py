"""YouTube's per-account choices in upload_config.json (``accounts.<name>.platforms.youtube``)."""

from __future__ import annotations

from typing import Literal

from atroposd.providers.spec import PlatformAccount


class YouTubeAccount(PlatformAccount):
    """Per-account YouTube choices (no secrets)."""

    channel_id: str | None = None
    privacy: Literal["public", "private", "unlisted"] = "public"
    category_id: str = "22"
    made_for_kids: bool = False
    notify_subscribers: bool = True
    tags: tuple[str, ...] = ()
