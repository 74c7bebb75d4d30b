"""YouTube: resumable uploads of Shorts (provider, Google OAuth, error classification)."""

from atroposd.providers.youtube.errors import NAME, classify, next_pacific_midnight
from atroposd.providers.youtube.oauth import GoogleOAuth
from atroposd.providers.youtube.provider import YouTubeEndpoints, YouTubeProvider, build

__all__ = [
    "NAME",
    "GoogleOAuth",
    "YouTubeEndpoints",
    "YouTubeProvider",
    "build",
    "classify",
    "next_pacific_midnight",
]
