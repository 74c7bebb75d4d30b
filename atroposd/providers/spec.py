"""What a platform declares besides its provider, as data: the ``.env`` names it reads and
the model of its per-account choices in upload_config.json.

``config.py`` collects the declared names from the environment and builds every account's
``platforms`` block from the declared models; ``app.py`` hands the values to the platform's
``build`` in ``ProviderContext``. Neither names a platform, so adding one touches only the
four pieces of docs/providers.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from atroposd.providers.base import Provider, ProviderContext

# The platforms atroposd is built for (ARCHITECTURE.md), implemented or not yet.
PLATFORM_NAMES = ("youtube", "instagram", "facebook", "tiktok", "snapchat", "x")
# How users write them, for messages.
TITLES = {
    "youtube": "YouTube",
    "instagram": "Instagram",
    "facebook": "Facebook",
    "tiktok": "TikTok",
    "snapchat": "Snapchat",
    "x": "X",
}


class PlatformAccount(BaseModel):
    """One account's choices for one platform in upload_config.json (no secrets).

    A platform subclasses it for its own choices; a typo is an error (``extra="forbid"``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@dataclass(frozen=True)
class PlatformSpec:
    """What one platform reads from configuration."""

    account: type[PlatformAccount] = PlatformAccount  # accounts.<name>.platforms.<platform>
    secrets: tuple[str, ...] = ()  # .env names never logged: client ids and secrets
    settings: tuple[str, ...] = ()  # plain .env values, e.g. endpoint overrides
    account_id: str | None = None  # .env fallback of the default account's platform id
    # The field of ``account`` holding the account's own id (e.g. Instagram's "ig_user_id"):
    # it wins over ``accounts.<a>.ids.<platform>`` and the .env fallback.
    id_field: str | None = None

    def secret_names(self) -> tuple[str, ...]:
        """Every secret name, the account id fallback included (ids are not for logs)."""
        return (*self.secrets, *((self.account_id,) if self.account_id else ()))


class PlatformModule(Protocol):
    """A provider package as the registry lists it: its ``SPEC`` and its ``build``."""

    SPEC: PlatformSpec

    def build(self, ctx: ProviderContext) -> Provider:
        """The provider, built from the context the composition root gives every platform."""
        ...
