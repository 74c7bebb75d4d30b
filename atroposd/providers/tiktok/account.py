"""TikTok's per-account choices in upload_config.json (``accounts.<name>.platforms.tiktok``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from atroposd.providers.spec import PlatformAccount

# providers.md §5.2 (content-posting-api-reference-direct-post): the privacy_level enum.
Privacy = Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]
PRIVACY_LEVELS: tuple[str, ...] = (
    "PUBLIC_TO_EVERYONE",
    "MUTUAL_FOLLOW_FRIENDS",
    "FOLLOWER_OF_CREATOR",
    "SELF_ONLY",
)


class TikTokAccount(PlatformAccount):
    """Per-account TikTok choices (no secrets).

    ``privacy`` must be one of the levels ``creator_info`` offers for the account at post
    time, else the post fails naming the allowed ones (an unaudited app may only post
    ``SELF_ONLY``). The ``disable_*`` switches can only turn interactions off: when the
    creator has comments, duets or stitches off in the app, they stay off whatever is set.
    ``brand_content_toggle`` marks a paid partnership (TikTok refuses it with ``SELF_ONLY``),
    ``brand_organic_toggle`` the creator's own brand.
    """

    privacy: Privacy = "PUBLIC_TO_EVERYONE"
    disable_comment: bool = False
    disable_duet: bool = False
    disable_stitch: bool = False
    brand_content_toggle: bool = False
    brand_organic_toggle: bool = False
    is_aigc: bool = False
    video_cover_timestamp_ms: Annotated[int, Field(ge=0)] | None = None  # a frame of the video
