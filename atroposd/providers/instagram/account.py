"""Instagram's per-account choices in upload_config.json (``accounts.<a>.platforms.instagram``)."""

from __future__ import annotations

from pydantic import Field

from atroposd.providers.spec import PlatformAccount


class InstagramAccount(PlatformAccount):
    """Per-account Instagram choices (no secrets).

    ``ig_user_id`` is the professional account's Instagram user id (``IG_BUSINESS_ID`` in
    ``.env`` stands in for the default account); ``share_to_feed`` also shows the Reel in the
    main feed; ``thumb_offset_ms`` picks the cover frame, ``cover_url`` (a public JPEG) wins
    over it (providers.md §3.1).
    """

    ig_user_id: str | None = None
    share_to_feed: bool = True
    thumb_offset_ms: int | None = Field(default=None, ge=0)
    cover_url: str | None = None
