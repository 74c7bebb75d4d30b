"""TikTok: Direct Post of videos through the Content Posting API v2 (provider, errors).

Its OAuth (v2, ``client_key``, rotating refresh tokens) lives with every platform's in
``providers/auth``.
"""

from atroposd.providers.tiktok.account import PRIVACY_LEVELS, TikTokAccount
from atroposd.providers.tiktok.errors import NAME, classify
from atroposd.providers.tiktok.provider import SPEC, TikTokProvider, build
from atroposd.providers.tiktok.wire import TikTokEndpoints

__all__ = [
    "NAME",
    "PRIVACY_LEVELS",
    "SPEC",
    "TikTokAccount",
    "TikTokEndpoints",
    "TikTokProvider",
    "build",
    "classify",
]
