"""Token controls for tests of logins and refresh (issue 9), and the per-request token record.

=======  ==========================  ==================================================
method   path                        effect
=======  ==========================  ==================================================
POST     /_emulator/token_lifetime   ``{"platform" (or "*"), "seconds"}``: access tokens
                                     issued from now on live that long, and the token
                                     answers say so (``expires_in``); ``seconds: null``
                                     restores the platform's own lifetime
GET      /_emulator/issued_tokens    every access and refresh token issued, as a list of
                                     strings (leak searches: tests/leaks.py)
GET      /_emulator/requests         every platform request seen: ``platform``, ``method``,
                                     ``path``, ``account`` (whose access token it carried,
                                     or null), ``token`` (``valid``, ``expired``,
                                     ``unknown`` or ``none``), ``token_sha`` (first 12 hex
                                     of the token's SHA-256, never the token), ``query``
                                     (its parameters but any secret-looking one: which
                                     upload session or item it was about)
=======  ==========================  ==================================================

Revoking an account's refresh token is ``POST /_emulator/revoke`` (control.py).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from atroposd.emulator.store import TokenBook
from atroposd.emulator.wire import Request, Response

PATHS = frozenset({"/token_lifetime", "/requests", "/issued_tokens"})
SECRET_PARAMS = ("token", "secret", "code", "key", "verifier", "signature")


def token_of(request: Request) -> str | None:
    """The access token a request carries: ``Authorization: Bearer|OAuth <t>`` or the
    ``access_token`` query parameter; Meta's sandbox form ``sandbox:<account>:<t>`` gives t."""
    scheme, _, value = request.header("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() in ("bearer", "oauth") else ""
    token = token or request.query.get("access_token", "")
    return token.rpartition(":")[2] or None


class TokenControl:
    """Serves the token controls and keeps the request record."""

    def __init__(self, tokens: Callable[[], TokenBook]) -> None:
        self._tokens = tokens  # the store's book (a reset replaces it)
        self.seen: deque[dict[str, Any]] = deque(maxlen=100_000)  # a long-running emulator

    def record(self, platform: str, request: Request) -> None:
        """Note one platform request and whose token it carried, before it is answered."""
        token = token_of(request)
        book = self._tokens()
        owner = book.owners.get(token) if token else None
        if token is None:
            state = "none"
        elif owner is None:
            state = "unknown"
        else:
            state = "valid" if book.account_for(owner[0], token) is not None else "expired"
        self.seen.append(
            {
                "platform": platform,
                "method": request.method,
                "path": request.path,
                "account": owner[1] if owner else None,
                "token": state,
                "token_sha": hashlib.sha256(token.encode()).hexdigest()[:12] if token else None,
                "query": {
                    k: v
                    for k, v in request.query.items()
                    if not any(s in k.lower() for s in SECRET_PARAMS)
                },
            }
        )

    async def handle(self, request: Request, path: str) -> Response:
        """Answer ``/_emulator/token_lifetime`` or ``/_emulator/requests``."""
        if (request.method, path) == ("GET", "/requests"):
            return Response.json(200, list(self.seen))
        if (request.method, path) == ("GET", "/issued_tokens"):
            book = self._tokens()
            return Response.json(200, [*book.owners, *book.refreshes])
        if (request.method, path) != ("POST", "/token_lifetime"):
            return Response.json(404, {"error": f"no control endpoint {request.method} {path}"})
        raw = await request.body()
        doc = json.loads(raw) if raw.strip() else {}
        platform, seconds = doc.get("platform"), doc.get("seconds")
        if not isinstance(platform, str) or not platform:
            return Response.json(400, {"error": "'platform' is required (a name, or '*')"})
        book = self._tokens()
        if seconds is None:
            book.lifetimes.pop(platform, None)
        elif isinstance(seconds, int) and not isinstance(seconds, bool) and seconds >= 1:
            book.lifetimes[platform] = seconds
        else:
            return Response.json(400, {"error": "'seconds' must be a whole number >= 1 or null"})
        return Response.json(200, {"lifetimes": book.lifetimes})

    def reset(self) -> None:
        """Forget the record (``POST /_emulator/reset``)."""
        self.seen.clear()
