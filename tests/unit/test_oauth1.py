"""OAuth 1.0a signing (providers/auth/oauth1.py) against published signature vectors."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from cryptography.fernet import Fernet

from atroposd.providers.auth import OAuth1Keys, oauth1_header, oauth1_signature
from atroposd.providers.auth.oauth1 import oauth1_params
from atroposd.providers.base import Credentials
from atroposd.vault import Vault

# X developer docs, "Creating a signature" (authentication / OAuth 1.0a), worked example:
# https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature
# (the api.twitter.com edition of the page; the signing key and base string there give
# hCtSmYh+iHYCEqBWrE7C7hYmtUk=).
X_KEYS = OAuth1Keys(
    consumer_key="xvz1evFS4wEEPTGEFPHBog",
    consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
)
X_NONCE = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"
X_TIMESTAMP = 1318622958
X_URL = "https://api.twitter.com/1.1/statuses/update.json?include_entities=true"
X_FORM = [("status", "Hello Ladies + Gentlemen, a signed OAuth request!")]
X_SIGNATURE = "hCtSmYh+iHYCEqBWrE7C7hYmtUk="


def test_x_docs_worked_example() -> None:
    oauth = oauth1_params(X_KEYS, X_NONCE, X_TIMESTAMP)
    assert oauth1_signature(X_KEYS, "POST", X_URL, oauth, X_FORM) == X_SIGNATURE


def test_x_docs_header_carries_the_percent_encoded_signature() -> None:
    header = oauth1_header(X_KEYS, "POST", X_URL, X_FORM, nonce=X_NONCE, timestamp=X_TIMESTAMP)
    assert header.startswith("OAuth ")
    fields = dict(part.split("=", 1) for part in header.removeprefix("OAuth ").split(", "))
    assert fields["oauth_signature"] == '"hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"'
    assert unquote(fields["oauth_signature"].strip('"')) == X_SIGNATURE
    assert fields["oauth_consumer_key"] == '"xvz1evFS4wEEPTGEFPHBog"'
    assert fields["oauth_token"] == f'"{X_KEYS.token}"'
    assert fields["oauth_version"] == '"1.0"'
    assert "status" not in fields, "body parameters are signed, not sent in the header"


def test_rfc5849_section_1_2_example_over_plain_http() -> None:
    # RFC 5849 §1.2 (https://www.rfc-editor.org/rfc/rfc5849#section-1.2): the photo request
    # signed with the token credentials; no oauth_version, plain http (the emulator's case).
    keys = OAuth1Keys(
        "dpf43f3p2l4k3l03", "kd94hf93k423kf44", "nnch734d00sl2jdk", "pfkkdhi9sl3r4s00"
    )
    oauth = [
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131202"),
        ("oauth_nonce", "chapoH"),
    ]
    url = "http://photos.example.net/photos?file=vacation.jpg&size=original"
    assert oauth1_signature(keys, "GET", url, oauth) == "MdpQcU8iPSUjWoN/UDMsK2sui9I="


def test_a_multipart_body_is_not_signed_and_each_request_gets_its_own_nonce() -> None:
    url = "https://api.x.com/2/media/upload/initialize"
    first = oauth1_header(X_KEYS, "POST", url)
    second = oauth1_header(X_KEYS, "POST", url)
    assert first != second, "a nonce must never repeat"
    assert X_KEYS.consumer_secret not in first
    assert X_KEYS.token_secret not in first
    assert repr(X_KEYS) == "OAuth1Keys(<redacted>)"


def test_keys_come_from_the_apps_secrets_and_the_accounts_vault_entry(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "tokens", Fernet.generate_key().decode(), sandbox=False)
    vault.save("acct", "x", Credentials(X_KEYS.token, extra={"token_secret": X_KEYS.token_secret}))
    keys = OAuth1Keys.of(X_KEYS.consumer_key, X_KEYS.consumer_secret, vault.load("acct", "x"))
    assert keys == X_KEYS
