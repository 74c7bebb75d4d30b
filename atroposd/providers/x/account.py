"""X's per-account choices in upload_config.json (``accounts.<name>.platforms.x``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from atroposd.providers.spec import PlatformAccount

STANDARD_LIMIT = 280  # weighted characters (twitter-text); Premium accounts may post longer


class XAccount(PlatformAccount):
    """Per-account X choices (no secrets)."""

    # Which user context signs this account's requests: OAuth 2.0 user tokens (refresh token
    # in the vault) or OAuth 1.0a (access token + token secret in the vault). None: X_AUTH.
    auth: Literal["oauth1", "oauth2"] | None = None
    # The longest post text X accepts from this account, in weighted characters
    # (280; more for X Premium long posts).
    max_weighted_length: int = Field(default=STANDARD_LIMIT, ge=1, le=25_000)
    user_id: str | None = None  # the account's numeric X user id (else asked with /2/users/me)
