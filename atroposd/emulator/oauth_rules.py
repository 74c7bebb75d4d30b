"""The rules of an authorization code (oauth.py): where each platform's endpoints are, what a
code is bound to, and how each platform refuses a wrong one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from atroposd.emulator.meta import graph_error
from atroposd.emulator.wire import Request, Response

CODE_TTL = 600.0  # seconds (Google, Meta: about 10 minutes; X's own is 30 s, in x_auth.py)
AUTHORIZE = {
    "youtube": "/o/oauth2/v2/auth",
    "tiktok": "/v2/auth/authorize/",
    "snapchat": "/login/oauth2/authorize",
}
_VERSIONED = re.compile(r"/v\d+\.\d+(/.*)")


def _unversioned(path: str) -> str | None:
    match = _VERSIONED.fullmatch(path)
    return match.group(1) if match else None


class META:
    """Graph paths of a Meta login (any ``vNN.N``)."""

    @staticmethod
    def dialog(path: str) -> bool:
        """``/<ver>/dialog/oauth``: the Login dialog."""
        return _unversioned(path) == "/dialog/oauth"

    @staticmethod
    def edge(path: str) -> str | None:
        """The path after the version (``/me/accounts``), or None."""
        return _unversioned(path)


class TOKEN:
    """Token endpoints, the code grant of which the login serves."""

    PATHS: ClassVar[dict[str, str]] = {
        "youtube": "/token",
        "tiktok": "/v2/oauth/token/",
        "snapchat": "/login/oauth2/access_token",
        "x": "/2/oauth2/token",
    }

    @classmethod
    def matches(cls, name: str, path: str) -> bool:
        """True for ``name``'s token endpoint (X: OAuth 2.0 and OAuth 1.0a access_token)."""
        if name in ("facebook", "instagram"):
            return _unversioned(path) == "/oauth/access_token"
        return cls.PATHS.get(name) == path or (name, path) == ("x", "/oauth/access_token")


@dataclass(frozen=True)
class Code:
    """What one authorization code was issued for."""

    platform: str
    account: str
    client_id: str
    redirect_uri: str
    challenge: str
    method: str  # "S256", "plain" or "" (no PKCE)
    scope: str
    offline: bool  # a refresh token comes with the access token
    issued: float


def oauth_error(status: int, error: str, description: str) -> Response:
    """RFC 6749's error answer."""
    return Response.json(status, {"error": error, "error_description": description})


def lifetime(tokens: Any, platform: str, default: int) -> int:
    """Seconds an access token lives (a test may shorten it on the token book)."""
    life = getattr(tokens, "lifetime", None)
    return int(life(platform, default)) if callable(life) else default


async def read_form(request: Request) -> dict[str, str]:
    """Query parameters overlaid by a form body, plus HTTP Basic client credentials."""
    form = dict(request.query)
    raw = await request.body()
    form.update(dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)))
    scheme, _, value = request.header("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        client, _, secret = decoded.partition(":")
        form.update(client_id=unquote(client), client_secret=unquote(secret))
    if "client_key" in form and "client_id" not in form:
        form["client_id"] = form["client_key"]
    return form


def challenge_of(verifier: str, method: str, platform: str) -> str:
    """The challenge a verifier makes; TikTok's desktop Login Kit hex-encodes the SHA-256."""
    if method == "plain":
        return verifier
    if platform == "tiktok":
        return hashlib.sha256(verifier.encode()).hexdigest()
    return str(create_s256_code_challenge(verifier))


def code_refusal(name: str, code: Code, form: dict[str, str], expired: bool) -> Response | None:
    """The platform's refusal of this exchange, or None when the code is good."""
    if not form.get("client_id") or not form.get("client_secret"):
        return _refuse(name, "invalid_client", "The OAuth client was not found.", 401)
    if form.get("client_id") != code.client_id:
        return _refuse(name, "invalid_client", "The code was issued to another client.", 401)
    if expired:
        return _refuse(name, "invalid_grant", "The authorization code has expired.")
    if form.get("redirect_uri") != code.redirect_uri:
        return _refuse(name, "redirect_uri_mismatch", "redirect_uri is not the one authorized.")
    if code.method:
        verifier = form.get("code_verifier", "")
        good = challenge_of(verifier, code.method, name)
        if not verifier or not hmac.compare_digest(good, code.challenge):
            return _refuse(name, "invalid_grant", "Code verifier or code challenge is invalid.")
    return None


def _refuse(name: str, error: str, description: str, status: int = 400) -> Response:
    if name in ("facebook", "instagram"):
        subcode = {"redirect_uri_mismatch": 36008, "invalid_grant": 36009}.get(error)
        message = {
            "redirect_uri_mismatch": (
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request"
            ),
            "invalid_grant": "This authorization code has been used or is invalid.",
        }.get(error, "Error validating client secret.")
        extra: dict[str, Any] = {"subcode": subcode} if subcode else {}
        return graph_error(400, 100 if subcode else 1, message, kind=name, **extra)
    if name == "youtube" and error == "redirect_uri_mismatch":
        return oauth_error(400, error, "Bad Request")
    if name == "tiktok" and error == "invalid_grant" and "verifier" in description:
        return oauth_error(400, "invalid_request", description)
    return oauth_error(status, error, description)
