"""The x provider's requests and the X emulator's answers against X's OpenAPI description.

A post goes through the daemon's publisher (``tests/providers/pipeline.py``) with the real
provider and the real emulator; a recording transport keeps every request with its body and
every answer, and each API exchange is checked against ``tests/specs/x-api-v2-openapi.json``
(``x_openapi.py``). The OAuth endpoints are not part of that description and are skipped.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from atroposd.domain import PostState
from atroposd.providers import REGISTRY
from atroposd.providers.base import RemotePhase, RemoteRef
from tests.providers.harness import ACCOUNT, Binding, MemoryCredentials, context, make_request
from tests.providers.pipeline import Pipeline
from tests.providers.test_x_conformance import X_OAUTH1, X_OAUTH2
from tests.providers.x_openapi import request_errors, response_errors
from tests.support import Emulator, make_clip

EVERY_STEP = {
    ("POST", "/2/media/upload/initialize"),
    ("POST", "/2/media/upload/{id}/append"),
    ("POST", "/2/media/upload/{id}/finalize"),
    ("GET", "/2/media/upload"),
    ("POST", "/2/tweets"),
    ("GET", "/2/users/me"),
    ("GET", "/2/users/{id}/tweets"),
}


@dataclass(frozen=True)
class Exchange:
    """One request with its body and the answer with its body."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    answer_headers: dict[str, str]
    answer: bytes

    @property
    def path(self) -> str:
        return httpx.URL(self.url).path.removeprefix("/x")


class Recorder(httpx.AsyncBaseTransport):
    """Sends over loopback and keeps every exchange in full."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = b"".join([piece async for piece in request.stream])  # type: ignore[union-attr]
        sent = httpx.Request(request.method, request.url, headers=request.headers, content=body)
        answer = await self.inner.handle_async_request(sent)
        data = await answer.aread()
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                answer.status_code,
                {k.lower(): v for k, v in answer.headers.items()},
                data,
            )
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=data)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _post_recorded(binding: Binding, emulator: Emulator, media: Path, home: Path) -> list[Exchange]:
    recorder = Recorder()
    pipelines: list[Pipeline] = []

    async def main() -> None:
        creds = MemoryCredentials("x", {ACCOUNT: binding.credentials(ACCOUNT)})
        async with httpx.AsyncClient(transport=recorder, timeout=10) as http:
            provider = REGISTRY["x"](context(binding, emulator.url, http, creds))
            pipelines.append(Pipeline.build(provider, home, 15.0))
            post = pipelines[0].plan(make_request(media), "x")
            done = await pipelines[0].drive(post.id, 15.0)
            assert done.state is PostState.PUBLISHED, (done.state, done.last_error)
            # As after a lost answer to the post: the user and the timeline are asked too.
            ref = RemoteRef.from_json(done.remote_ref or "{}")
            sent = RemoteRef(ref.kind, {k: v for k, v in ref.data.items() if k != "post_id"})
            found = await provider.status(ACCOUNT, sent)
            assert found.phase is RemotePhase.PUBLISHED and found.remote_id == done.remote_id

    try:
        asyncio.run(main())
    finally:
        for pipeline in pipelines:
            pipeline.close()  # after the loop: the archiver's job has run or was cancelled
    return recorder.exchanges


def _template(exchange: Exchange) -> tuple[str, str]:
    return exchange.method, re.sub(r"/[0-9]{5,19}(?=/|$)", "/{id}", exchange.path)


@pytest.mark.parametrize("binding", [X_OAUTH2, X_OAUTH1], ids=["oauth2", "oauth1"])
def test_every_request_and_answer_of_a_post_matches_the_openapi_description(
    binding: Binding, emulator: Emulator, tmp_path: Path
) -> None:
    media = make_clip(tmp_path / "clip.mp4", seconds=2.0, seed=5, bitrate="2M")
    exchanges = _post_recorded(binding, emulator, media, tmp_path / "home")
    api = [e for e in exchanges if e.path.startswith("/2/") and "/oauth2/" not in e.path]
    assert {_template(e) for e in api} >= EVERY_STEP, sorted({_template(e) for e in api})
    assert sum(1 for e in api if _template(e) == ("POST", "/2/media/upload/{id}/append")) >= 3
    problems: list[str] = []
    for e in api:
        where = f"{e.method} {e.path} -> {e.status}"
        problems += [
            f"request {where}: {p}" for p in request_errors(e.method, e.url, e.headers, e.body)
        ]
        problems += [
            f"answer {where}: {p}"
            for p in response_errors(e.method, e.url, e.status, e.answer_headers, e.answer)
        ]
        if "x-rate-limit-reset" not in e.answer_headers:
            problems.append(f"answer {where}: no x-rate-limit-* headers")
    assert problems == []


def test_the_description_check_finds_what_x_would_refuse() -> None:
    """The checker is not vacuous: bad requests and answers are reported."""
    url = "http://127.0.0.1:1/x/2/media/upload?command=STATUS&media_id=12&tweet.fields=x"
    assert any(
        "tweet.fields" in p for p in request_errors("GET", url, {"authorization": "Bearer t"}, b"")
    )
    init = "http://127.0.0.1:1/x/2/media/upload/initialize"
    bad = json.dumps({"media_type": "video/avi", "total_bytes": 5}).encode()
    head = {"authorization": "OAuth x", "content-type": "application/json"}
    assert request_errors("POST", init, head, bad)
    assert request_errors("POST", init, {"content-type": "application/json"}, b"{}")  # no auth
    answer = json.dumps({"data": {"media_key": "13_1"}}).encode()  # no id
    assert response_errors("POST", init, 200, {"content-type": "application/json"}, answer)
    tweets = "http://127.0.0.1:1/x/2/tweets"
    created = json.dumps({"data": {"id": "abc", "text": "t"}}).encode()  # id not numeric
    assert response_errors("POST", tweets, 201, {"content-type": "application/json"}, created)


def test_the_emulators_typed_problems_match_the_description(emulator: Emulator) -> None:
    """400 ``invalid-request`` and 404 ``resource-not-found`` answers validate too. (X's 401
    ``about:blank`` and 429 ``rate-limit-exceeded`` are not among the description's problems.)"""
    form = {"grant_type": "refresh_token", "refresh_token": "sandbox:alice:openapi"}
    token = emulator.http.post("/x/2/oauth2/token", data=form, auth=("cid", "csecret")).json()
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    bad = {"media_type": "video/avi", "total_bytes": 10, "media_category": "tweet_video"}
    cases = [
        ("POST", "/x/2/media/upload/initialize", {"json": bad}, 400),
        ("POST", "/x/2/media/upload/1234567890/finalize", {}, 404),
        ("GET", "/x/2/media/upload?command=STATUS&media_id=1234567890", {}, 404),
    ]
    for method, path, extra, status in cases:
        resp = emulator.http.request(method, path, headers=auth, **extra)
        assert resp.status_code == status, resp.text
        url = emulator.url + path
        headers = {k.lower(): v for k, v in resp.headers.items()}
        assert response_errors(method, url, status, headers, resp.content) == [], path
