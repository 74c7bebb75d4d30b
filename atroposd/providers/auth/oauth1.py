"""OAuth 1.0a request signing (HMAC-SHA1, RFC 5849), for X's user-context media upload.

The signature is computed with Authlib's RFC 5849 primitives (``construct_base_string``,
``hmac_sha1_signature``, ``prepare_headers``). Two Authlib traps are avoided on purpose:
its ``httpx`` ``OAuth1Auth`` reads the whole request body into memory and *drops* a body
that is not form-encoded (X's multipart APPEND would go out empty), and its
``OAuth1Request`` refuses ``http://`` URLs unless a process-wide environment variable is set
(the emulator is plain HTTP on loopback). So a provider asks for the ``Authorization``
header and streams its body itself. Only query parameters and form-encoded body parameters
are signed; multipart and JSON bodies are not part of the signature (RFC 5849 §3.4.1.3.1).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from authlib.oauth1.rfc5849.parameters import prepare_headers
from authlib.oauth1.rfc5849.signature import (
    SIGNATURE_HMAC_SHA1,
    construct_base_string,
    hmac_sha1_signature,
)

from atroposd.providers.base import Credentials


@dataclass(frozen=True)
class OAuth1Keys:
    """The app's consumer key pair and one user's access token pair; never logged."""

    consumer_key: str
    consumer_secret: str
    token: str
    token_secret: str

    def __repr__(self) -> str:
        return "OAuth1Keys(<redacted>)"

    @classmethod
    def of(cls, consumer_key: str, consumer_secret: str, creds: Credentials) -> OAuth1Keys:
        """Keys from the app's secrets and a vault entry (token secret in ``extra``)."""
        return cls(consumer_key, consumer_secret, creds.access_token, creds.extra["token_secret"])


def oauth1_params(
    keys: OAuth1Keys,
    nonce: str | None = None,
    timestamp: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The ``oauth_*`` protocol parameters of one request, before signing.

    ``oauth_token`` is left out when ``keys.token`` is empty (the request-token step of the
    three-legged flow); ``extra`` adds protocol parameters such as ``oauth_callback`` or
    ``oauth_verifier`` (RFC 5849 §2.1, §2.3).
    """
    token = [("oauth_token", keys.token)] if keys.token else []
    return [
        ("oauth_consumer_key", keys.consumer_key),
        ("oauth_nonce", nonce or secrets.token_hex(16)),
        ("oauth_signature_method", SIGNATURE_HMAC_SHA1),
        ("oauth_timestamp", str(int(time.time()) if timestamp is None else timestamp)),
        *token,
        ("oauth_version", "1.0"),
        *extra,
    ]


def oauth1_signature(
    keys: OAuth1Keys,
    method: str,
    url: str,
    oauth: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]] = (),
) -> str:
    """The base64 HMAC-SHA1 signature over method, URL, query, form and ``oauth`` params."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    params = [*query, *form, *oauth]
    base = construct_base_string(method, url, params)
    return str(hmac_sha1_signature(base, keys.consumer_secret, keys.token_secret))


def oauth1_header(
    keys: OAuth1Keys,
    method: str,
    url: str,
    form: Sequence[tuple[str, str]] = (),
    *,
    nonce: str | None = None,
    timestamp: int | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> str:
    """The ``Authorization: OAuth ...`` value for one request (``form``: urlencoded body)."""
    oauth = oauth1_params(keys, nonce, timestamp, extra)
    signature = oauth1_signature(keys, method, url, oauth, form)
    headers = prepare_headers([*oauth, ("oauth_signature", signature)], {})
    return str(headers["Authorization"])
