"""Snapchat: the Public Profile API (encrypted multipart media, Spotlight or Story post).

Its OAuth lives with every platform's in ``providers/auth``.
"""

from atroposd.providers.snapchat.account import SnapchatAccount
from atroposd.providers.snapchat.errors import NAME, classify
from atroposd.providers.snapchat.factory import SPEC, build
from atroposd.providers.snapchat.provider import SnapchatProvider

__all__ = ["NAME", "SPEC", "SnapchatAccount", "SnapchatProvider", "build", "classify"]
