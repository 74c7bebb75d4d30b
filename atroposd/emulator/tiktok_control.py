"""TikTok's part of the control API, under ``/_emulator/tiktok``.

=======  ===========================  ===========================================================
method   path                         effect
=======  ===========================  ===========================================================
GET      /publishes                   every publish: account, the access token that made it
                                      (``init``), post id, chunks received / sent again
POST     /daily_cap                   ``{"cap": n}``: direct posts per creator per rolling 24 h
POST     /creator                     ``{"account", "privacy_level_options"?, "comment_disabled"?,
                                      "duet_disabled"?, "stitch_disabled"?,
                                      "max_video_post_duration_sec"?}``
POST     /fail_processing             ``{"fail_reason"}``: the next upload that completes ends
                                      FAILED with it (no post)
POST     /upload_url_ttl              ``{"seconds"}``: lifetime of upload URLs issued from now on
POST     /processing                  ``{"seconds"}``: how long a complete upload stays processing
POST     /expire_upload_urls          every upload URL now refuses chunks (403); the publishes
                                      stay, PROCESSING_UPLOAD with the bytes they hold
=======  ===========================  ===========================================================
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from atroposd.emulator.tiktok_rules import Creator
from atroposd.emulator.wire import Request, Response

if TYPE_CHECKING:
    from atroposd.emulator.tiktok import TikTok


def _bad(message: str) -> Response:
    return Response.json(400, {"error": message})


def _number(doc: dict[str, Any], key: str) -> float:
    value = doc.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValueError(f"'{key}' must be a non-negative number")
    return float(value)


async def control(tiktok: TikTok, request: Request, path: str) -> Response:
    """Answer one ``/_emulator/tiktok/<path>`` request."""
    key = (request.method, path.rstrip("/"))
    if key == ("GET", "/publishes"):
        return Response.json(200, [p.to_json() for p in tiktok.publishes.values()])
    try:
        raw = await request.body()
        doc = json.loads(raw) if raw.strip() else {}
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object")
        return _post(tiktok, key, doc)
    except ValueError as exc:
        return _bad(str(exc))


def _post(tiktok: TikTok, key: tuple[str, str], doc: dict[str, Any]) -> Response:
    if key == ("POST", "/daily_cap"):
        tiktok.daily_cap = int(_number(doc, "cap"))
    elif key == ("POST", "/creator"):
        account = doc.pop("account", None)
        if not isinstance(account, str) or not account:
            raise ValueError("'account' is required")
        known = {f.name for f in fields(Creator)}
        if set(doc) - known:
            raise ValueError(f"unknown creator fields {sorted(set(doc) - known)}")
        current = tiktok.creator(account)
        for name, value in doc.items():
            setattr(current, name, value)
    elif key == ("POST", "/fail_processing"):
        reason = doc.get("fail_reason")
        if not isinstance(reason, str) or not reason:
            raise ValueError("'fail_reason' is required")
        tiktok.fail_next = reason
    elif key == ("POST", "/upload_url_ttl"):
        tiktok.url_ttl = _number(doc, "seconds")
    elif key == ("POST", "/processing"):
        tiktok.processing_seconds = _number(doc, "seconds")
    elif key == ("POST", "/expire_upload_urls"):
        expired = tiktok.expire_upload_urls()
        return Response.json(200, {"expired": expired})
    else:
        return Response.json(404, {"error": f"no control endpoint {key[0]} /tiktok{key[1]}"})
    return Response.json(200, {"ok": True})
