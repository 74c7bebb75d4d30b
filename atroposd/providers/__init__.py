"""Provider plugins: one module per platform and this one explicit registry."""

from __future__ import annotations

from collections.abc import Callable

from atroposd.providers import youtube
from atroposd.providers.base import Provider, ProviderContext

REGISTRY: dict[str, Callable[[ProviderContext], Provider]] = {
    "youtube": youtube.build,
}
