"""The control API under ``/_emulator``: inspect posts and uploads, script faults, reset.

=======  ======================  =====================================================
method   path                    effect
=======  ======================  =====================================================
GET      /_emulator/health       ``{"ok": true}``
GET      /_emulator/posts        published items (platform, id, account, title, caption,
                                 bytes, sha256, created_at)
GET      /_emulator/uploads      in-progress sessions (bytes_received, total)
GET      /_emulator/faults       remaining fault rules with ``seen``/``fired`` counters
GET      /_emulator/tokens       every access token issued (so tests can prove none leaked)
POST     /_emulator/faults       add a JSON list of rules (or one rule object)
DELETE   /_emulator/faults       remove every rule
POST     /_emulator/reset        forget posts, uploads, faults, tokens, revocations
POST     /_emulator/revoke       ``{"platform", "account"}``: refresh + access tokens die
POST     /_emulator/expire_tokens  ``{"platform"}``: every access token now answers 401
POST     /_emulator/expire_uploads ``{"platform"?}``: session URIs now answer 404
*        /_emulator/<platform>/...  the platform's own controls (its ``control`` method),
                                 e.g. ``POST /_emulator/facebook/reels_cap``
=======  ======================  =====================================================
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from atroposd.emulator.faults import FaultRule
from atroposd.emulator.platform import Context, Platform
from atroposd.emulator.wire import Request, Response

PREFIX = "/_emulator"
_RULES = TypeAdapter(list[FaultRule])
PlatformControl = Callable[[Request, str], Awaitable[Response]]


def _bad(message: str) -> Response:
    return Response.json(400, {"error": message})


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    doc = json.loads(raw) if raw.strip() else {}
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    return doc


class Control:
    """Serves ``/_emulator/*`` against the shared context and the mounted platforms."""

    def __init__(self, ctx: Context, platforms: Mapping[str, Platform]) -> None:
        self._ctx = ctx
        self._platforms = platforms

    async def handle(self, request: Request, path: str) -> Response:
        """Answer one control request; ``path`` has the ``/_emulator`` prefix removed."""
        key = (request.method, path.rstrip("/"))
        store = self._ctx.store
        if key == ("GET", "/health"):
            return Response.json(200, {"ok": True})
        if key == ("GET", "/posts"):
            return Response.json(200, [p.to_json() for p in store.posts])
        if key == ("GET", "/uploads"):
            return Response.json(200, [u.to_json() for u in store.uploads.values()])
        if key == ("GET", "/tokens"):  # for leak tests: every access token ever issued
            issued = store.tokens.issued
            return Response.json(200, [{"platform": p, "access_token": t} for p, t in issued])
        if key == ("GET", "/faults"):
            return Response.json(200, self._ctx.faults.listing())
        if key == ("DELETE", "/faults"):
            self._ctx.faults.clear()
            return Response.json(200, [])
        if key == ("POST", "/reset"):
            self._reset()
            return Response.json(200, {"ok": True})
        own = self._platform_control(path)
        if own is not None:  # ``/_emulator/<platform>/...``: the platform's own controls
            return await own[0](request, own[1])
        try:
            return await self._with_body(request, key)
        except (ValueError, ValidationError) as exc:
            return _bad(str(exc))

    async def _with_body(self, request: Request, key: tuple[str, str]) -> Response:
        if key == ("POST", "/faults"):
            raw = json.loads(await request.body())
            rules = _RULES.validate_python(raw if isinstance(raw, list) else [raw])
            self._ctx.faults.add(rules)
            return Response.json(200, self._ctx.faults.listing())
        if key not in {
            ("POST", "/revoke"),
            ("POST", "/expire_tokens"),
            ("POST", "/expire_uploads"),
        }:
            return Response.json(404, {"error": f"no control endpoint {key[0]} {key[1]}"})
        doc = await _json_object(request)
        platform = doc.get("platform")
        if key[1] == "/expire_uploads":
            if platform is not None and not isinstance(platform, str):
                raise ValueError("'platform' must be a string")
            return Response.json(200, {"expired": self._ctx.store.drop_uploads(platform)})
        if platform not in self._platforms:
            raise ValueError(f"unknown platform {platform!r}")
        tokens = self._ctx.store.tokens
        if key[1] == "/expire_tokens":
            return Response.json(200, {"expired": tokens.expire_all(str(platform))})
        account = doc.get("account")
        if not isinstance(account, str) or not account:
            raise ValueError("'account' is required")
        tokens.revoke(str(platform), account)
        return Response.json(200, {"ok": True})

    def _platform_control(self, path: str) -> tuple[PlatformControl, str] | None:
        """A platform's optional ``control(request, rest)`` for ``/<platform>/<rest>``."""
        name, _, rest = path.strip("/").partition("/")
        handler = getattr(self._platforms.get(name), "control", None)
        return (handler, "/" + rest) if handler is not None and rest else None

    def _reset(self) -> None:
        self._ctx.faults.clear()
        self._ctx.store.reset()
        for platform in self._platforms.values():
            platform.reset()
