"""Provider plugins: one package per platform and this one explicit registry.

A platform joins with one line in ``PLATFORMS``: its package, which exports ``build`` (the
factory) and ``SPEC`` (its per-account model and the ``.env`` names it reads, ``spec.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from atroposd.providers import facebook, instagram, snapchat, tiktok, x, youtube
from atroposd.providers.base import Provider, ProviderContext
from atroposd.providers.spec import PlatformModule, PlatformSpec

PLATFORMS: dict[str, PlatformModule] = {
    "youtube": youtube,
    "x": x,
    "tiktok": tiktok,
    "snapchat": snapchat,
    "facebook": facebook,
    "instagram": instagram,
}
REGISTRY: dict[str, Callable[[ProviderContext], Provider]] = {
    name: module.build for name, module in PLATFORMS.items()
}
SPECS: dict[str, PlatformSpec] = {name: module.SPEC for name, module in PLATFORMS.items()}
