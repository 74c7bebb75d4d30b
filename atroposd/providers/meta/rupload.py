"""Meta's upload host, ``rupload.facebook.com`` (providers.md §2.3, §3.1, §4.1).

The container (Instagram) or video (Facebook) answer gives an absolute upload ``uri``; it is
followed exactly as given, never rebuilt. Bytes go as ``POST <uri>`` with
``Authorization: OAuth <token>``, ``offset: <bytes the host holds>`` and ``file_size: <total>``,
one chunk per request, each streamed from disk in 1 MiB pieces (constant memory,
``_http.file_slice``) with an exact ``Content-Length``.

Resume — [UNSURE] in providers.md §3.1/§9.3: how to learn what the host holds is not clearly
documented for rupload. Meta's Resumable Upload API (developers.facebook.com/docs/graph-api/
guides/upload, "Resume an interrupted upload") asks the upload session with a GET carrying the
same ``Authorization: OAuth`` header and reads ``file_offset``; implementations GET the rupload
URI and read ``offset``. We take the safe reading: GET the same URI, accept ``offset`` or
``file_offset``; an answer without a usable number means "start from 0" (re-sending bytes never
publishes anything). An upload answer refused for its offset is re-synced the same way.

The host's own error shape is ``{"debug_info": {"retriable", "type", "message"}}`` (a Graph
envelope is classified as Graph's).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from atroposd.clock import Clock
from atroposd.domain import FileIdentity
from atroposd.errors import (
    PermanentError,
    ProviderError,
    RateLimited,
    ReauthRequired,
    SessionLost,
    TransientError,
)
from atroposd.providers._http import file_slice, json_body
from atroposd.providers.base import Progress
from atroposd.providers.chunks import ChunkPlan
from atroposd.providers.meta.errors import GraphError, classify
from atroposd.providers.meta.tokens import MetaTokens
from atroposd.providers.meta.usage import wait_seconds

# No chunking rule is documented for rupload: any split works because every request names
# its offset. Chunks keep a dropped connection from costing more than one chunk.
RUPLOAD_PLAN = ChunkPlan()
MAX_RESYNCS = 3  # offset refusals re-synced in one call before giving up (transient)


def classify_rupload(
    platform: str, response: httpx.Response, step: str, now: datetime
) -> ProviderError:
    """Classify an upload host answer (``debug_info`` shape, or a Graph envelope)."""
    body = json_body(response)
    if GraphError.parse(body) is not None:
        return classify(platform, response, step, now)
    status = response.status_code
    raw = body.get("debug_info")
    info: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = str(info.get("type") or status)
    words = str(info.get("message") or response.reason_phrase or "no message")
    kw: dict[str, Any] = {"platform": platform, "code": kind, "platform_message": words}
    text = f"{step}: HTTP {status} ({kind}): {words}"
    if status == 401:
        return ReauthRequired(f"{text}; log in to {platform} again", status=status, **kw)
    if status == 429:
        return RateLimited(text, retry_after=wait_seconds(response, now), status=status, **kw)
    if status == 404:
        return SessionLost(text, status=status, **kw)
    if status >= 500 or status == 408 or info.get("retriable") is True:
        return TransientError(text, retry_after=wait_seconds(response, now), status=status, **kw)
    return PermanentError(text, status=status, **kw)


def _start_offset(response: httpx.Response) -> int | None:
    """The offset Facebook's 1363037 names (``error_data.start_offset``, providers.md §4.5;
    Graph sometimes sends ``error_data`` as a JSON string); None when the answer names none."""
    err = json_body(response).get("error")
    data = err.get("error_data") if isinstance(err, dict) else None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    value = data.get("start_offset") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _offset_of(body: dict[str, Any]) -> int:
    for key in ("offset", "file_offset"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return 0


class Rupload:
    """Sends a local file to a rupload ``uri`` for one Meta platform."""

    def __init__(self, http: httpx.AsyncClient, tokens: MetaTokens, clock: Clock) -> None:
        self._http = http
        self._tokens = tokens
        self._clock = clock

    @property
    def platform(self) -> str:
        """The platform these uploads are for."""
        return self._tokens.platform

    def _error(self, response: httpx.Response, step: str) -> ProviderError:
        return classify_rupload(self.platform, response, step, self._clock.now())

    async def held(self, account: str, uri: str) -> int | None:
        """Bytes the host holds for ``uri`` (0 when it does not say); None when it has no
        such upload (404: a new container/video is needed)."""
        resp = await self._tokens.send(
            account,
            "ask the upload host for its offset",
            lambda token: self._http.get(uri, headers={"Authorization": f"OAuth {token}"}),
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._error(resp, "ask the upload host for its offset")
        return _offset_of(json_body(resp))

    async def _held_or(self, account: str, uri: str, error: ProviderError) -> int | None:
        """``held``; when the host will not say (its GET is undocumented for Facebook), the
        refusal being re-synced is raised as it is, never the GET's own permanent answer."""
        try:
            return await self.held(account, uri)
        except PermanentError:
            raise error from None

    async def _post(
        self,
        account: str,
        uri: str,
        path: Path,
        size: int,
        offset: int,
        length: int,
        identity: FileIdentity | None,
    ) -> httpx.Response:
        headers = {
            "offset": str(offset),
            "file_size": str(size),
            "Content-Length": str(length),
            "Content-Type": "application/octet-stream",
        }
        return await self._tokens.send(
            account,
            f"upload bytes {offset}-{offset + length - 1}",
            lambda token: self._http.post(
                uri,
                content=file_slice(path, offset, length, identity),
                headers={**headers, "Authorization": f"OAuth {token}"},
            ),
        )

    async def send_from(
        self,
        account: str,
        uri: str,
        path: Path,
        size: int,
        offset: int,
        chunk_size: int,
        identity: FileIdentity | None = None,
        progress: Progress | None = None,
    ) -> int:
        """POST the file from ``offset`` on in chunks; returns the bytes the host holds."""
        chunk = RUPLOAD_PLAN.fit(chunk_size)
        resyncs = 0
        while offset < size:
            length = min(chunk, size - offset)
            resp = await self._post(account, uri, path, size, offset, length, identity)
            if resp.status_code == 200 and json_body(resp).get("success") is not False:
                offset += length
                if progress:
                    progress(offset, size)
                continue
            error = self._error(resp, "upload bytes")
            if resp.status_code != 400 or resyncs >= MAX_RESYNCS:
                raise error
            named = _start_offset(resp)  # refused: maybe our offset is not its
            held = named if named is not None else await self._held_or(account, uri, error)
            if held is None or held == offset:
                raise error
            offset, resyncs = held, resyncs + 1
        return offset
