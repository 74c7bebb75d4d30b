"""X's per-account choices in upload_config.json (``accounts.<name>.platforms.x``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from atroposd.providers.spec import PlatformAccount

STANDARD_LIMIT = 280  # weighted characters (twitter-text); Premium accounts may post longer
USER_ID_HINT = (
    'an X user id is the account\'s number (1 to 19 digits, e.g. "2244994945"), not its '
    "@handle; leave it out and it is asked from X (GET /2/users/me)"
)


class XAccount(PlatformAccount):
    """Per-account X choices (no secrets)."""

    # Which user context signs this account's requests: OAuth 2.0 user tokens (refresh token
    # in the vault) or OAuth 1.0a (access token + token secret in the vault). None: X_AUTH.
    auth: Literal["oauth1", "oauth2"] | None = None
    # The longest post text X accepts from this account, in weighted characters
    # (280; more for X Premium long posts).
    max_weighted_length: int = Field(default=STANDARD_LIMIT, ge=1, le=25_000)
    user_id: str | None = None  # the account's numeric X user id (else asked with /2/users/me)

    @field_validator("user_id", mode="before")
    @classmethod
    def _numeric(cls, value: object) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # blank is "not set": asked from X
        text = str(value).strip() if isinstance(value, int | str) else ""
        if not (text.isascii() and text.isdigit() and len(text) <= 19):
            # A custom error: the message is shown as it is, without "Value error, ".
            raise PydanticCustomError("user_id", f"{value!r}: {USER_ID_HINT}")
        return text
