"""Instagram's per-account choices in upload_config.json (``accounts.<a>.platforms.instagram``)."""

from __future__ import annotations

from pydantic import Field, field_validator

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

    @field_validator("ig_user_id")
    @classmethod
    def _numeric(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError(
                "the numeric Instagram user id (e.g. 17841400000000000, from "
                "GET /<page-id>?fields=instagram_business_account), not a @username or a link"
            )
        return value

    @field_validator("cover_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("https://"):
            raise ValueError("a public https URL of a JPEG (Instagram fetches it), not a file")
        return value
