"""The emulated Facebook's own controls, under ``/_emulator/facebook/``.

=======  ====================  ============================================================
method   path                  effect
=======  ====================  ============================================================
POST     reels_cap             ``{"limit": N, "window_seconds"?: S}``: the Page cap (30 reels
                               per rolling 24 h by default) for every Page
POST     clock                 ``{"advance_seconds": S}``: Facebook's clock moves ahead (the
                               cap's window, scheduled reels going live)
POST     processing_errors     ``{"count"?: 1, "code"?, "message"?}``: the next reels whose
                               upload completes fail processing with that error
POST     expire_reels          every reel not finished yet lapses (``video_status``
                               ``expired``; its ``finish`` is refused), as an unpublished
                               upload does on Facebook after a while
GET      reels                 every reel: id, page, account, state, scheduled time, posts,
                               and its ``status`` as ``GET /{video_id}?fields=status`` says
=======  ====================  ============================================================
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from atroposd.emulator.wire import Request, Response

if TYPE_CHECKING:
    from atroposd.emulator.facebook import Facebook

DEFAULT_ERROR = (1363008, "The video could not be processed: the file is not a supported video.")


def _number(doc: dict[str, Any], key: str, default: float | None = None) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{key!r} must be a number >= 0")
    return float(value)


async def _doc(request: Request) -> dict[str, Any]:
    raw = await request.body()
    doc = json.loads(raw) if raw.strip() else {}
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object")
    return doc


def _reels(fb: Facebook) -> list[dict[str, object]]:
    now, mono = fb.clock.now(), fb.ctx.store.clock()
    out: list[dict[str, object]] = []
    for reel in fb.reels.values():
        held = reel.size if reel.uploaded_at is not None else fb.host.held(reel.id)
        out.append(
            {
                "id": reel.id,
                "page_id": reel.page_id,
                "account": reel.account,
                "video_state": reel.state,
                "scheduled_publish_time": reel.scheduled_at,
                "posts": len(reel.posts),
                "status": reel.status(held, mono, now, fb.processing_seconds, fb.clock),
            }
        )
    return out


async def control(fb: Facebook, request: Request, path: str) -> Response:
    """Answer one control request; ``path`` is what follows ``/_emulator/facebook``."""
    key = (request.method, path.rstrip("/"))
    if key == ("GET", "/reels"):
        return Response.json(200, _reels(fb))
    try:
        doc = await _doc(request)
        if key == ("POST", "/reels_cap"):
            fb.cap.limit = int(_number(doc, "limit"))
            fb.cap.window = _number(doc, "window_seconds", fb.cap.window)
            return Response.json(200, {"limit": fb.cap.limit, "window_seconds": fb.cap.window})
        if key == ("POST", "/clock"):
            fb.clock.offset += _number(doc, "advance_seconds")
            return Response.json(200, {"now": fb.clock.now()})
        if key == ("POST", "/expire_reels"):
            lapsed = [r for r in fb.reels.values() if r.state is None]
            for reel in lapsed:
                reel.expired = True
            return Response.json(200, {"expired": len(lapsed)})
        if key == ("POST", "/processing_errors"):
            count = int(_number(doc, "count", 1))
            code = int(doc.get("code", DEFAULT_ERROR[0]))
            message = str(doc.get("message", DEFAULT_ERROR[1]))
            fb.failing.extend([(code, message)] * count)
            return Response.json(200, {"queued": len(fb.failing)})
    except (ValueError, TypeError) as exc:
        return Response.json(400, {"error": str(exc)})
    return Response.json(404, {"error": f"no facebook control {key[0]} {key[1]}"})
