"""What the emulated Meta platforms (Instagram, Facebook) share (providers.md §2, §8.2, §8.3).

Stable API (additive changes only):

- ``split_version(path)``: ``"/v26.0/123/media"`` → ``("v26.0", "/123/media")``; any ``vNN.N``.
- ``graph_ok(payload, obj_id, kind)`` / ``graph_error(status, code, message, ...)``: answers in
  Graph's envelope, every one with ``X-App-Usage`` and ``X-Business-Use-Case-Usage`` headers.
- ``graph_fault_body(status)`` / ``rupload_fault_body(status)``: default bodies of injected
  ``status`` faults (429 → code 4 throttling; 5xx → code 2 ``is_transient``; 401 → 190/463;
  else 100) and the upload host's ``{"debug_info": {...}}`` shape.
- ``GraphTokens``: the token model. ``await exchange(request)`` (query or form body) answers
  ``GET|POST /<ver>/oauth/access_token`` ``grant_type=fb_exchange_token`` (a sandbox login
  ``sandbox:<account>:…`` or a token this emulator issued → a new token, ``expires_in``
  5183944); ``check(request)`` reads ``Authorization: Bearer|OAuth <t>`` or ``access_token``
  and returns the account or the 190 answer (463 expired, 467 invalid, 458 revoked).
- ``RuploadHost``: the upload host. ``open(public_id, account, title)`` makes an upload for a
  container/video id; ``handle(request, public_id, account)`` serves ``POST`` (``offset`` must
  equal the bytes held, ``file_size`` fixed by the first request, header errors in the
  ``debug_info`` shape) and ``GET`` (``{"offset", "file_size"}``); ``held``, ``complete``,
  ``finish`` (→ a post in ``/_emulator/posts``).

Deviation, on purpose: real Meta refuses to exchange an *expired* token (providers.md §2.2); this
emulator exchanges one it issued unless the account's grant was revoked, so the suite's "token
dies mid-upload, refreshed once" scenario runs for Meta too. A revoked account is refused.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl

from atroposd.emulator.platform import Context
from atroposd.emulator.store import PostRecord, Upload
from atroposd.emulator.wire import Request, Response

LONG_LIVED_TTL = 5183944  # seconds, as Meta's fb_exchange_token answer says (~60 days)
_VERSION = re.compile(r"/(v\d+\.\d+)(/.*)?")
Headers = tuple[tuple[str, str], ...]


def split_version(path: str) -> tuple[str, str] | None:
    """``(version, rest)`` of a Graph path, or None when it does not start with ``/vNN.N``."""
    match = _VERSION.fullmatch(path)
    if match is None:
        return None
    return match.group(1), match.group(2) or "/"


def fbtrace() -> str:
    """A random ``fbtrace_id``."""
    return secrets.token_urlsafe(8)


def usage_headers(obj_id: str = "", kind: str = "instagram", regain_minutes: int = 0) -> Headers:
    """``X-App-Usage`` and ``X-Business-Use-Case-Usage`` as Meta sends them on every answer."""
    count = 100 if regain_minutes else 1
    app = {"call_count": count, "total_cputime": 1, "total_time": 1}
    buc = {
        obj_id or "0": [
            {
                "type": kind,
                "call_count": count,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": regain_minutes,
            }
        ]
    }
    return (("X-App-Usage", json.dumps(app)), ("X-Business-Use-Case-Usage", json.dumps(buc)))


def graph_ok(payload: object, obj_id: str = "", kind: str = "instagram") -> Response:
    """A 200 Graph answer with usage headers."""
    return Response.json(200, payload, usage_headers(obj_id, kind))


def error_body(
    code: int,
    message: str,
    *,
    type: str = "OAuthException",
    subcode: int | None = None,
    user_title: str | None = None,
    user_msg: str | None = None,
    is_transient: bool | None = None,
) -> dict[str, object]:
    """Graph's ``{"error": {...}}`` envelope."""
    err: dict[str, object] = {"message": message, "type": type, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if user_title is not None:
        err["error_user_title"] = user_title
    if user_msg is not None:
        err["error_user_msg"] = user_msg
    err["fbtrace_id"] = fbtrace()
    return {"error": err}


def graph_error(
    status: int,
    code: int,
    message: str,
    *,
    headers: Headers = (),
    obj_id: str = "",
    kind: str = "instagram",
    **extra: object,
) -> Response:
    """A Graph error answer (``extra``: ``type``, ``subcode``, ``user_title``, ``user_msg``,
    ``is_transient``) with usage headers."""
    body = error_body(code, message, **extra)  # type: ignore[arg-type]
    return Response.json(status, body, (*usage_headers(obj_id, kind), *headers))


def graph_fault_body(status: int) -> object:
    """Default body of an injected ``status`` fault on a Graph step."""
    if status == 429:
        return error_body(4, "(#4) Application request limit reached", is_transient=True)
    if status == 401:
        return error_body(190, "Error validating access token: Session has expired.", subcode=463)
    if status >= 500:
        return error_body(
            2, "Service temporarily unavailable", type="OAuthException", is_transient=True
        )
    return error_body(100, "Invalid parameter", is_transient=False)


def rupload_error(status: int, kind: str, message: str, retriable: bool = False) -> Response:
    """The upload host's own error shape."""
    body = {"debug_info": {"retriable": retriable, "type": kind, "message": message}}
    return Response.json(status, body)


def rupload_fault_body(status: int) -> object:
    """Default body of an injected ``status`` fault on an upload host step."""
    retriable = status >= 500 or status == 429
    kind = "OAuthException" if status == 401 else "ProcessingFailedError"
    return {"debug_info": {"retriable": retriable, "type": kind, "message": f"HTTP {status}"}}


def bearer_of(request: Request) -> str | None:
    """The token of ``Authorization: Bearer|OAuth <t>``, else the ``access_token`` param."""
    scheme, _, value = request.header("authorization", "").partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return request.query.get("access_token") or None


class GraphTokens:
    """Access tokens of one Meta platform, on the shared ``TokenBook``."""

    def __init__(self, ctx: Context, platform: str) -> None:
        self._ctx = ctx
        self._platform = platform
        self._issued: dict[str, str] = {}  # every token issued -> its account

    def reset(self) -> None:
        """Forget issued tokens (the store forgets its own)."""
        self._issued.clear()

    def issue(self, account: str) -> str:
        """A new long-lived token for ``account``, of the sandbox form ``sandbox:<account>:…``:
        a restarted emulator, which forgot it, still exchanges it as it does a sandbox login
        (sandbox has no login to redo); it refuses it for anything else (190) until then."""
        raw = self._ctx.store.tokens.issue_access(self._platform, account, LONG_LIVED_TTL)
        token = f"sandbox:{account}:{raw}"
        self._issued[token] = account
        return token

    def _revoked(self, account: str, token: str) -> bool:
        return not self._ctx.store.tokens.refresh_usable(self._platform, account, token)

    def refusal(self, token: str | None) -> tuple[int, str]:
        """``(subcode, message)`` of why ``token`` is refused."""
        account = self._issued.get(token or "")
        if account is None:
            return 467, "Invalid OAuth access token - Cannot parse access token"
        if self._revoked(account, token or ""):
            return 458, "Error validating access token: The user has not authorized application."
        return 463, "Error validating access token: Session has expired."

    def check(self, request: Request, rupload: bool = False) -> str | Response:
        """The account of the request's token, or Meta's answer refusing it. The upload host
        (``rupload``) takes only ``Authorization: OAuth <token>`` (providers.md §3.1)."""
        token = bearer_of(request)
        scheme = request.header("authorization", "").partition(" ")[0].lower()
        if rupload and scheme != "oauth":
            message = "Authorization: OAuth <token> is required"
            return rupload_error(401, "OAuthException", message)
        raw = (token or "").rpartition(":")[2]  # the store's own token in the sandbox form
        account = self._ctx.store.tokens.account_for(self._platform, raw) if raw else None
        if account is not None and token == f"sandbox:{account}:{raw}":
            return account
        subcode, message = self.refusal(token)
        if rupload:
            return rupload_error(401, "OAuthException", message)
        return graph_error(400, 190, message, subcode=subcode, kind=self._platform)

    async def exchange(self, request: Request) -> Response:
        """``grant_type=fb_exchange_token`` from the query or a form body (the provider POSTs
        it, so the app secret and token are never in a logged URL): a new long-lived token
        for a valid old one."""
        raw = await request.body()
        query = {**request.query, **dict(parse_qsl(raw.decode("utf-8", "replace")))}
        if not query.get("client_id") or not query.get("client_secret"):
            return graph_error(400, 101, "Missing client_id or client_secret parameter")
        if query.get("grant_type") != "fb_exchange_token":
            return graph_error(400, 100, "Unsupported grant_type", type="OAuthException")
        old = query.get("fb_exchange_token", "")
        account = self._login_account(old)
        if account is None:
            subcode, message = self.refusal(old)
            return graph_error(400, 190, message, subcode=subcode, kind=self._platform)
        body = {"access_token": self.issue(account), "token_type": "bearer"}
        life = self._ctx.store.tokens.lifetime(self._platform, LONG_LIVED_TTL)
        return graph_ok({**body, "expires_in": life}, kind=self._platform)

    def _login_account(self, old: str) -> str | None:
        if old.startswith("sandbox:"):
            login = old.removeprefix("sandbox:").split(":", 1)[0]
            return login if login and not self._revoked(login, old) else None
        issued = self._issued.get(old)
        if issued is None or self._revoked(issued, old):
            return None
        return issued


@dataclass
class _Rupload:
    upload_id: str
    file_size: int | None = None


class RuploadHost:
    """The emulated ``rupload.facebook.com`` for one platform."""

    def __init__(self, ctx: Context, platform: str) -> None:
        self._ctx = ctx
        self._platform = platform
        self._open: dict[str, _Rupload] = {}  # public id (container/video) -> its upload

    def reset(self) -> None:
        """Forget every upload."""
        self._open.clear()

    def open(self, public_id: str, account: str, title: str) -> None:
        """An empty upload for ``public_id`` (listed in ``/_emulator/uploads``)."""
        upload = self._ctx.store.new_upload(self._platform, account, title, None)
        self._open[public_id] = _Rupload(upload.id)

    def upload(self, public_id: str) -> Upload | None:
        """The store's upload of ``public_id``; None if unknown or expired."""
        entry = self._open.get(public_id)
        if entry is None:
            return None
        return self._ctx.store.uploads.get((self._platform, entry.upload_id))

    def held(self, public_id: str) -> int:
        """Bytes stored for ``public_id``."""
        upload = self.upload(public_id)
        return upload.blob.size if upload is not None else 0

    def complete(self, public_id: str) -> bool:
        """Every declared byte is stored."""
        entry, upload = self._open.get(public_id), self.upload(public_id)
        if entry is None or upload is None or entry.file_size is None:
            return False
        return upload.blob.size == entry.file_size

    def finish(self, public_id: str, post_id: str, caption: str, title: str = "") -> PostRecord:
        """The complete upload becomes a published post."""
        upload = self.upload(public_id)
        if upload is None:
            raise KeyError(public_id)
        upload.title = title or upload.title
        self._open.pop(public_id, None)
        return self._ctx.store.finish_upload(upload, post_id, caption)

    async def handle(self, request: Request, public_id: str, account: str) -> Response:
        """``POST`` bytes at an offset, or ``GET`` the offset held."""
        upload, entry = self.upload(public_id), self._open.get(public_id)
        if upload is None or entry is None:
            return rupload_error(404, "NotFoundError", f"no upload for {public_id}")
        if upload.account != account:
            return rupload_error(403, "PermissionError", "the upload belongs to another user")
        if request.method == "GET":
            return Response.json(200, {"offset": upload.blob.size, "file_size": entry.file_size})
        if request.header("file_url") is not None:
            return rupload_error(400, "ParameterValidationError", "file_url is not emulated")
        async with upload.lock:
            return await self._append(request, upload, entry)

    async def _append(self, request: Request, upload: Upload, entry: _Rupload) -> Response:
        offset, size = request.header("offset", ""), request.header("file_size", "")
        for name, raw in (("Offset", offset), ("File_size", size)):
            if not raw.isdigit():
                return rupload_error(
                    400,
                    "ParameterValidationError",
                    f"HeaderValuePredicate: Header {name} not convertable to unsigned long",
                )
        start, total = int(offset), int(size)
        if entry.file_size is not None and total != entry.file_size:
            message = f"file_size {total} differs from {entry.file_size} given before"
            return rupload_error(400, "ParameterValidationError", message)
        if start != upload.blob.size:
            message = f"offset {start} does not match the {upload.blob.size} bytes received"
            return rupload_error(400, "ParameterValidationError", message)
        length = request.content_length
        if length is None or start + length > total:
            return rupload_error(400, "ParameterValidationError", "body longer than file_size")
        entry.file_size = upload.total = total
        await upload.blob.append(request.stream())
        if upload.blob.size > total:
            return rupload_error(400, "ParameterValidationError", "body longer than file_size")
        return Response.json(200, {"success": True, "message": "Upload successful."})
