"""The emulated Facebook's answers that need no state: Graph errors, the cap's refusal,
the upload host's wrong-offset answer, and reading Graph parameters (query, form or JSON)."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from atroposd.emulator.meta import error_body, graph_error, usage_headers
from atroposd.emulator.wire import Request, Response


def error(status: int, code: int, message: str, **extra: Any) -> Response:
    """A Graph error of the Pages kind, with usage headers."""
    return graph_error(status, code, message, kind="pages", **extra)


async def params_of(request: Request) -> dict[str, str]:
    """Graph parameters from the query string, then a form or JSON body."""
    params = dict(request.query)
    raw = await request.body()
    if not raw.strip():
        return params
    if request.header("content-type", "").startswith("application/json"):
        try:
            doc = json.loads(raw)
        except ValueError:
            return params
        if isinstance(doc, dict):
            params.update({str(k): str(v) for k, v in doc.items()})
        return params
    params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def missing(video_id: str) -> Response:
    """Graph's 100/33: no such object (unknown, or its upload expired)."""
    message = (
        f"Unsupported get request. Object with ID '{video_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation."
    )
    return error(400, 100, message, subcode=33, type="GraphMethodException")


def capped(page_id: str, wait: float, limit: int) -> Response:
    """The Page cap's refusal: code 9, and when it frees in the usage header."""
    message = f"(#9) This Page has reached its limit of {limit} reels published in 24 hours"
    minutes = max(1, math.ceil(wait / 60))
    body = error_body(9, message, user_msg=f"Try again in {minutes} minutes.")
    return Response.json(400, body, usage_headers(page_id, "pages", minutes))


def bad_offset(offset: int, held: int, page_id: str) -> Response:
    """Graph's 1363037 (providers.md §4.5): resume from ``error_data.start_offset``."""
    body = error_body(
        6000, f"Invalid start offset {offset}: the upload holds {held} bytes", subcode=1363037
    )
    envelope = body["error"]
    assert isinstance(envelope, dict)
    envelope["error_data"] = {"start_offset": held, "end_offset": held}
    return Response.json(400, body, usage_headers(page_id, "pages"))
