"""Facebook's per-account choices in upload_config.json (``accounts.<name>.platforms.facebook``)."""

from __future__ import annotations

from atroposd.providers.spec import PlatformAccount


class FacebookAccount(PlatformAccount):
    """Per-account Facebook choices (no secrets)."""

    # The Page the reels go to (Reels publish only to Pages, providers.md §4). The default
    # account may leave it out and set FACEBOOK_PAGE_ID in .env instead; in sandbox a stand-in
    # is made from the account's name.
    page_id: str | None = None
