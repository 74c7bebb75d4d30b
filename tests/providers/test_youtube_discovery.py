"""The YouTube provider's requests and the emulator's answers against YouTube's own description.

The description is ``tests/specs/youtube-v3-discovery.json`` (the Data API v3 discovery
document). Its schemas are turned into JSON Schema (Draft 4, checked with ``jsonschema``):
``$ref: "Video"`` points at ``schemas.Video``, objects take no property the document does not
define (an emulator inventing a field, or a provider sending one YouTube does not know, fails),
``enum`` values hold, and int64/uint64 fields are strings of digits. Checked, on a real upload
through the provider to the emulator over loopback:

- ``videos.insert`` (resumable): the path is the method's media upload path, every query
  parameter is declared by the method or globally (typed, enums held), ``part`` is present and
  names parts of ``Video``, the media type is one the method accepts and the size within
  ``maxSize``, and the JSON body is a ``Video``;
- the answer to the last chunk is a ``Video``; ``videos.list`` is asked with declared
  parameters and answers a ``VideoListResponse`` holding only the parts asked for.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from jsonschema import Draft4Validator

from atroposd.emulator import EmulatorServer
from atroposd.providers import REGISTRY
from atroposd.providers.base import ProviderContext, RemoteRef, UploadRequest
from tests.support import REPO
from tests.unit.pipeline_support import CHUNK, SECRETS, Tokens, real_clip
from tests.unit.support import FakeClock

DISCOVERY = REPO / "tests" / "specs" / "youtube-v3-discovery.json"
Exchange = tuple[httpx.Request, httpx.Response]


@cache
def discovery() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DISCOVERY.read_text(encoding="utf-8"))
    return doc


def _schema(node: Any) -> Any:
    """One discovery schema as JSON Schema (Draft 4), strict about unknown properties."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    if "$ref" in node:
        return {"$ref": f"#/definitions/{node['$ref']}"}
    for key in ("type", "enum"):
        if key in node:
            out[key] = node[key]
    if "properties" in node:
        out["properties"] = {name: _schema(s) for name, s in node["properties"].items()}
    if "items" in node:
        out["items"] = _schema(node["items"])
    if node.get("type") == "object":
        extra = node.get("additionalProperties")
        out["additionalProperties"] = _schema(extra) if extra is not None else False
    if node.get("format") in ("int64", "uint64") and node.get("type") == "string":
        out["pattern"] = r"^-?[0-9]+$"
    return out


def validator(name: str) -> Draft4Validator:
    """A validator for ``schemas.<name>`` of the discovery document."""
    definitions = {k: _schema(v) for k, v in discovery()["schemas"].items()}
    return Draft4Validator({"definitions": definitions, "$ref": f"#/definitions/{name}"})


def problems(name: str, value: object) -> list[str]:
    """Every way ``value`` breaks ``schemas.<name>``, with where."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator(name).iter_errors(value)
    ]


def query_problems(method: dict[str, Any], url: httpx.URL) -> list[str]:
    """Undeclared, mistyped or missing query parameters of a call to ``method``."""
    declared = {**discovery()["parameters"], **method.get("parameters", {})}
    found: list[str] = []
    query = dict(parse_qsl(urlsplit(str(url)).query))
    for name, value in query.items():
        spec = declared.get(name)
        if spec is None:
            found.append(f"query {name!r} is not a parameter of {method['id']}")
        elif spec.get("type") == "boolean" and value not in ("true", "false"):
            found.append(f"query {name}={value!r} is not a boolean")
        elif "enum" in spec and value not in spec["enum"]:
            found.append(f"query {name}={value!r} is not one of {spec['enum']}")
    for name in method.get("parameterOrder", []):
        if declared[name].get("required") and name not in query:
            found.append(f"required query {name!r} missing")
    parts = set(discovery()["schemas"]["Video"]["properties"])
    for part in query.get("part", "").split(","):
        if part and part not in parts:
            found.append(f"part {part!r} is not a part of Video")
    return found


def methods() -> dict[str, Any]:
    found: dict[str, Any] = discovery()["resources"]["videos"]["methods"]
    return found


async def exchanges(tmp: Path, clip: Path, size: int) -> tuple[list[Exchange], str]:
    """Upload ``clip`` through the YouTube provider to the emulator and ask for its status."""
    server = EmulatorServer(port=0, storage_dir=tmp / "emulator", processing_seconds=0.0)
    await server.start()
    seen: list[Exchange] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        seen.append((response.request, response))

    try:
        async with httpx.AsyncClient(timeout=10.0, event_hooks={"response": [keep]}) as http:
            ctx = ProviderContext(http, Tokens(), FakeClock(), True, server.base_url, CHUNK,
                                  SECRETS, {})  # fmt: skip
            provider = REGISTRY["youtube"](ctx)
            request = UploadRequest(
                "alice", clip, size, "0" * 64, "Discovery check — 日本 👍🏽",
                "Described by the caption rule\n\n#shorts", tags=("a", "b"),
            )  # fmt: skip
            refs: list[RemoteRef] = []

            async def save(ref: RemoteRef) -> None:
                refs.append(ref)

            result = await provider.upload(request, None, save)
            assert result.remote_id
            status = await provider.status(
                "alice", RemoteRef("youtube_video", {"id": result.remote_id})
            )
            assert status.remote_id == result.remote_id
    finally:
        await server.stop()
    return seen, result.remote_id


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Exchange], str]:
    tmp = tmp_path_factory.mktemp("discovery")
    clip = real_clip(tmp)
    return asyncio.run(exchanges(tmp, clip, clip.stat().st_size))


def calls(seen: list[Exchange], method: str, path: str) -> list[Exchange]:
    return [(q, a) for q, a in seen if q.method == method and q.url.path.endswith(path)]


def test_the_upload_session_request_is_a_videos_insert(seen: tuple[list[Exchange], str]) -> None:
    insert = methods()["insert"]
    [(request, answer)] = calls(seen[0], "POST", "/upload/youtube/v3/videos")
    paths = [p["path"] for p in insert["mediaUpload"]["protocols"].values()]
    assert any(request.url.path.endswith(p) for p in paths), request.url.path
    assert query_problems(insert, request.url) == []
    assert dict(parse_qsl(request.url.query.decode()))["uploadType"] == "resumable"
    media_type = request.headers["X-Upload-Content-Type"]
    assert any(fnmatch.fnmatch(media_type, a) for a in insert["mediaUpload"]["accept"])
    assert int(request.headers["X-Upload-Content-Length"]) <= int(insert["mediaUpload"]["maxSize"])
    body = json.loads(request.content)
    assert insert["request"] == {"$ref": "Video"}
    assert problems("Video", body) == []
    assert body["snippet"]["title"] == "Discovery check — 日本 👍🏽"
    assert answer.status_code == 200 and answer.headers["location"]


def test_the_answer_to_the_last_chunk_is_a_video(seen: tuple[list[Exchange], str]) -> None:
    finished = [a for q, a in seen[0] if q.method == "PUT" and a.status_code in (200, 201)]
    assert len(finished) == 1
    video = finished[0].json()
    assert methods()["insert"]["response"] == {"$ref": "Video"}
    assert problems("Video", video) == []
    assert video["id"] == seen[1] and video["kind"] == "youtube#video"
    assert video["snippet"]["description"] == "Described by the caption rule\n\n#shorts"


def test_videos_list_is_asked_and_answered_as_described(seen: tuple[list[Exchange], str]) -> None:
    listing = methods()["list"]
    [(request, answer)] = calls(seen[0], "GET", "/youtube/v3/videos")
    assert query_problems(listing, request.url) == []
    assert answer.status_code == 200
    body = answer.json()
    assert listing["response"] == {"$ref": "VideoListResponse"}
    assert problems("VideoListResponse", body) == []
    [item] = body["items"]
    asked = set(dict(parse_qsl(request.url.query.decode()))["part"].split(","))
    assert set(item) <= {"kind", "etag", "id"} | asked  # only the parts asked for


def test_the_checker_finds_what_the_document_does_not_allow() -> None:
    """The checker can fail: an invented field, a wrong enum value, a wrong type, an id."""
    assert (
        problems("Video", {"snippet": {"title": "t"}, "status": {"privacyStatus": "public"}}) == []
    )
    found = problems(
        "Video",
        {
            "snippet": {"title": 5, "mood": "happy"},
            "status": {"privacyStatus": "friends"},
            "statistics": {"viewCount": "many"},
        },
    )
    assert any("snippet/title" in p for p in found)
    assert any("mood" in p for p in found)
    assert any("status/privacyStatus" in p for p in found)
    assert any("statistics/viewCount" in p for p in found)
    url = httpx.URL(
        "https://x/upload/youtube/v3/videos?part=snippet,colour&notifySubscribers=no&x=1"
    )
    bad = query_problems(methods()["insert"], url)
    assert len(bad) == 3, bad
