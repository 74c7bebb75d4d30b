"""Snapchat's per-account choices in upload_config.json (``accounts.<name>.platforms.snapchat``)."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from atroposd.providers.spec import PlatformAccount

LOCALE = r"^[a-z]{2,3}(_[A-Z]{2})?$"


class SnapchatAccount(PlatformAccount):
    """Per-account Snapchat choices (no secrets).

    ``profile_id`` is the Public Profile's UUID (``GET /v1/public_profiles/my_profile``
    shows it); it wins over ``ids.snapchat`` and ``SNAPCHAT_PROFILE_ID``. ``publish_to``
    picks Spotlight (permanent, reviewed, description up to 160 characters) or the
    profile's Story (24 h, no caption). ``locale`` is required by Spotlight posts.
    """

    profile_id: str | None = None
    publish_to: Literal["spotlight", "story"] = "spotlight"
    locale: str = Field("en_US", pattern=LOCALE)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """A misspelt key is named with the key meant and the keys Snapchat takes."""
        if isinstance(data, dict):
            known = sorted(cls.model_fields)
            for key in data:
                if key not in cls.model_fields:
                    near = get_close_matches(str(key), known, n=1)
                    raise PydanticCustomError(
                        "unknown_key",
                        "unknown key {key}{hint}; snapchat takes: {known}",
                        {
                            "key": repr(key),
                            "hint": f" (did you mean {near[0]!r}?)" if near else "",
                            "known": ", ".join(known),
                        },
                    )
        return data

    @field_validator("locale", mode="before")
    @classmethod
    def _locale(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(LOCALE, value):
            raise PydanticCustomError(
                "locale",
                "{value} is not a locale: write it like en_US or de_DE (language_COUNTRY)",
                {"value": repr(value)},
            )
        return value
