"""Instagram Reels through the Graph API with Facebook Login (providers.md §3).

Shared Meta pieces (Graph errors, tokens, rupload) live in ``providers/meta``.
"""

from atroposd.providers.instagram.account import InstagramAccount
from atroposd.providers.instagram.factory import SPEC, InstagramEndpoints, build
from atroposd.providers.instagram.provider import InstagramProvider
from atroposd.providers.instagram.remote import NAME

__all__ = ["NAME", "SPEC", "InstagramAccount", "InstagramEndpoints", "InstagramProvider", "build"]
