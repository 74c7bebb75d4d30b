"""Snapchat's per-account choices in upload_config.json (``accounts.<name>.platforms.snapchat``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from atroposd.providers.spec import PlatformAccount


class SnapchatAccount(PlatformAccount):
    """Per-account Snapchat choices (no secrets).

    ``profile_id`` is the Public Profile's UUID (``GET /v1/public_profiles/my_profile``
    shows it); it wins over ``ids.snapchat`` and ``SNAPCHAT_PROFILE_ID``. ``publish_to``
    picks Spotlight (permanent, reviewed, description up to 160 characters) or the
    profile's Story (24 h, no caption). ``locale`` is required by Spotlight posts.
    """

    profile_id: str | None = None
    publish_to: Literal["spotlight", "story"] = "spotlight"
    locale: str = Field("en_US", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
