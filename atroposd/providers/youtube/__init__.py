"""YouTube: resumable uploads of Shorts (provider, error classification).

Its OAuth lives with every platform's in ``providers/auth``.
"""

from atroposd.providers.youtube.account import YouTubeAccount
from atroposd.providers.youtube.errors import NAME, classify, next_pacific_midnight
from atroposd.providers.youtube.provider import SPEC, YouTubeEndpoints, YouTubeProvider, build

__all__ = [
    "NAME",
    "SPEC",
    "YouTubeAccount",
    "YouTubeEndpoints",
    "YouTubeProvider",
    "build",
    "classify",
    "next_pacific_midnight",
]
