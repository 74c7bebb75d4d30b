"""Facebook's per-account choices in upload_config.json (``accounts.<name>.platforms.facebook``)."""

from __future__ import annotations

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from atroposd.providers.spec import PlatformAccount

PAGE_ID_HINT = (
    "a Page id is the Page's number (Page settings → About → Page ID, e.g. 102030405060708), "
    "not its name or URL"
)


def is_page_id(value: str) -> bool:
    """Graph's Page ids are numbers; a name, URL or blank would only fail later, per post."""
    return value.isascii() and value.isdigit()


class FacebookAccount(PlatformAccount):
    """Per-account Facebook choices (no secrets)."""

    # The Page the reels go to (Reels publish only to Pages, providers.md §4). The default
    # account may leave it out and set FACEBOOK_PAGE_ID in .env instead; in sandbox a stand-in
    # is made from the account's name.
    page_id: str | None = None

    @field_validator("page_id")
    @classmethod
    def _numeric(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # blank is "not set", as in .env: the fallbacks apply
        if not is_page_id(value.strip()):
            # A custom error: the message is shown as it is, without "Value error, ".
            raise PydanticCustomError("page_id", f"{value!r}: {PAGE_ID_HINT}")
        return value.strip()
