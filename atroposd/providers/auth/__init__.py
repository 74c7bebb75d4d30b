"""One place for OAuth: OAuth 2.0 refresh (every platform) and OAuth 1.0a signing (X).

``OAuth2Tokens`` keeps each account's bearer token for one platform: one refresh at a time
per (account, platform), a rotated refresh token stored before the new access token is
used, token endpoint errors as ``ReauthRequired`` / ``TransientError``; grants
``refresh_token`` (Google, TikTok, Snapchat, X OAuth 2.0) and ``fb_exchange_token`` (Meta).
``oauth1_header``
signs a request with HMAC-SHA1 (RFC 5849) for X's user-context media upload.
See docs/adr/0002-one-oauth-module.md.
"""

from atroposd.providers.auth.oauth1 import OAuth1Keys, oauth1_header, oauth1_signature
from atroposd.providers.auth.oauth2 import OAuth2Tokens, TokenEndpoint

__all__ = ["OAuth1Keys", "OAuth2Tokens", "TokenEndpoint", "oauth1_header", "oauth1_signature"]
