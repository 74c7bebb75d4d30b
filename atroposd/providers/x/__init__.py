"""X: v2 chunked media upload, then the post as the publish step (provider, errors, auth).

OAuth 1.0a signing and OAuth 2.0 refresh live with every platform's in ``providers/auth``.
"""

from atroposd.providers.x.account import XAccount
from atroposd.providers.x.errors import NAME, classify
from atroposd.providers.x.provider import SPEC, XEndpoints, XProvider, build

__all__ = ["NAME", "SPEC", "XAccount", "XEndpoints", "XProvider", "build", "classify"]
