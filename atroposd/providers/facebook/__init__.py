"""Facebook Page Reels (providers.md §4): provider, Page tokens, account choices."""

from atroposd.providers.facebook.account import FacebookAccount
from atroposd.providers.facebook.factory import SPEC, build, sandbox_page_id
from atroposd.providers.facebook.provider import NAME, FacebookProvider

__all__ = ["NAME", "SPEC", "FacebookAccount", "FacebookProvider", "build", "sandbox_page_id"]
