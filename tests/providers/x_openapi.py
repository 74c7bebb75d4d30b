"""Check HTTP requests and answers against X's published OpenAPI description.

The description is ``tests/specs/x-api-v2-openapi.json`` (X API v2.167, OpenAPI 3.0).
Schemas are checked with ``jsonschema`` (Draft 4 semantics, which OpenAPI 3.0 schema objects
follow; ``$ref`` resolved inside the description with ``referencing``). What is checked:

- the operation exists (method + path template, the sandbox ``/x`` prefix removed);
- a user-context ``Authorization`` its ``security`` allows (OAuth 2.0 bearer or OAuth 1.0a);
- path and query parameters against their schemas (integers converted, comma lists split;
  undeclared query parameters are errors, as X refuses them), required ones present;
- the request body's content type is declared, and its JSON or multipart fields validate
  (multipart parsed by the stdlib MIME parser; binary parts stand in as strings);
- the answer's status is declared (or ``default``), its content type too, and its JSON body
  validates against that schema.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.support import REPO

SPEC_PATH = REPO / "tests" / "specs" / "x-api-v2-openapi.json"
URI = "urn:x-openapi"


@cache
def spec() -> dict[str, Any]:
    """The OpenAPI description."""
    doc: dict[str, Any] = json.loads(Path(SPEC_PATH).read_text())
    return doc


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resource(URI, Resource(contents=spec(), specification=DRAFT4))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _absolute(node: object) -> object:
    """``node`` with every ``#/...`` reference pointing into the registered description."""
    if isinstance(node, dict):
        return {
            k: URI + v if k == "$ref" and isinstance(v, str) else _absolute(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node


def schema_errors(schema: dict[str, Any], value: object) -> list[str]:
    """Every way ``value`` breaks ``schema`` (a schema object of the description)."""
    validator = Draft4Validator(_absolute(schema), registry=_registry())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(value)
    ]


def operation(method: str, path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The operation for ``method path`` and the path parameters it binds."""
    for template, item in spec()["paths"].items():
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        found = re.match(pattern, path)
        if found and method.lower() in item:
            return item[method.lower()], found.groupdict()
    raise AssertionError(f"{method} {path}: not an operation of the X API description")


def _api_path(url: str) -> str:
    path = urlsplit(url).path
    return path.removeprefix("/x") if path.startswith("/x/") else path


def _param_value(schema: dict[str, Any], raw: str) -> object:
    schema = _resolve(schema)
    if schema.get("type") == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    if schema.get("type") == "array":
        return raw.split(",")
    return raw


def request_errors(method: str, url: str, headers: dict[str, str], body: bytes) -> list[str]:
    """Every way one request breaks the description."""
    op, path_params = operation(method, _api_path(url))
    errors: list[str] = []
    auth = headers.get("authorization", "")
    schemes = {name for entry in op.get("security", []) for name in entry}
    allowed = (
        "Bearer " if "OAuth2UserToken" in schemes else "-",
        "OAuth " if "UserToken" in schemes else "-",
    )
    if not auth.startswith(allowed):
        errors.append(f"Authorization {auth.split(' ')[0]!r} is not one of {sorted(schemes)}")
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    params = [_resolve(p) for p in op.get("parameters", [])]
    declared = {p["name"] for p in params if p["in"] == "query"}
    errors += [
        f"query parameter {name!r} is not declared" for name in query if name not in declared
    ]
    for param in params:
        where = path_params if param["in"] == "path" else query if param["in"] == "query" else None
        if where is None:
            continue
        if param["name"] not in where:
            if param.get("required"):
                errors.append(f"required {param['in']} parameter {param['name']!r} is missing")
            continue
        value = _param_value(param["schema"], where[param["name"]])
        errors += [f"{param['name']}: {e}" for e in schema_errors(param["schema"], value)]
    return errors + _body_errors(op, headers, body)


def _body_errors(op: dict[str, Any], headers: dict[str, str], body: bytes) -> list[str]:
    content_type = headers.get("content-type", "")
    declared = _resolve(op["requestBody"])["content"] if "requestBody" in op else {}
    if not declared:
        return [f"a body was sent to an operation without one ({len(body)} bytes)"] if body else []
    media = content_type.split(";")[0].strip()
    if media not in declared:
        return [f"request content type {media!r} is not one of {sorted(declared)}"]
    schema = declared[media]["schema"]
    if media == "application/json":
        return schema_errors(schema, json.loads(body))
    if media == "multipart/form-data":
        return schema_errors(schema, _multipart_fields(content_type, body, schema))
    return [f"cannot check a {media} body"]


def _multipart_fields(content_type: str, body: bytes, schema: dict[str, Any]) -> dict[str, object]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart() and not message.defects, message.defects
    props = _resolve(schema).get("properties", {})
    fields: dict[str, object] = {}
    for part in message.iter_parts():
        name = str(part.get_param("name", header="content-disposition"))
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        kind = _resolve(props.get(name, {})).get("type")
        fields[name] = (
            _param_value(props[name], payload.decode())
            if kind == "integer"
            else f"<{len(payload)} bytes>"
        )
    return fields


def response_errors(
    method: str, url: str, status: int, headers: dict[str, str], body: bytes
) -> list[str]:
    """Every way one answer breaks the description."""
    op, _ = operation(method, _api_path(url))
    responses = op["responses"]
    declared = responses.get(str(status)) or responses.get("default")
    if declared is None:
        return [f"status {status} is not declared"]
    content = _resolve(declared).get("content", {})
    if not content:
        return [] if not body else [f"status {status} declares no body, got {len(body)} bytes"]
    media = headers.get("content-type", "").split(";")[0].strip()
    if media not in content:
        return [f"answer content type {media!r} is not one of {sorted(content)}"]
    return schema_errors(content[media]["schema"], json.loads(body))
