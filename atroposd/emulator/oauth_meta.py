"""A Meta login against the emulator (providers.md §2.2): the short-lived user token of a code,
the Pages the user manages with their Instagram business accounts, and de-authorisation.

Tokens have the emulator's Meta form ``sandbox:<account>:<raw>`` (``meta.GraphTokens``), so
the platform's ``fb_exchange_token`` turns the short-lived one into a long-lived one and every
Graph endpoint takes them. The Pages of an account default to one Page whose id is derived
from the account name as the Facebook provider's sandbox stand-in is, linked to an Instagram
account whose id is derived too; a test sets others with ``POST /_emulator/oauth/pages``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from atroposd.emulator.meta import LONG_LIVED_TTL, bearer_of, graph_error, graph_ok
from atroposd.emulator.oauth_rules import META, lifetime
from atroposd.emulator.platform import Context, Platform
from atroposd.emulator.wire import Request, Response

SHORT_LIVED_TTL = 3600  # Meta's short-lived user token: about an hour or two
Record = Callable[[str, str, object], None]
Work = Callable[[], Awaitable[Response]]
Page = dict[str, str]  # {"id", "name", "instagram_business_account"?}
PERMISSIONS = (
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_posts",
    "instagram_basic",
    "instagram_content_publish",
)


def is_meta(name: str) -> bool:
    """True for the platforms that log in through Facebook Login."""
    return name in ("facebook", "instagram")


def default_page(account: str) -> Page:
    """The stand-in Page of a sandbox account (the id as ``sandbox_page_id`` makes it)."""
    digest = int(hashlib.sha256(f"facebook-page:{account}".encode()).hexdigest(), 16)
    ig = int(hashlib.sha256(f"instagram-business:{account}".encode()).hexdigest(), 16)
    return {
        "id": str(10**14 + digest % (9 * 10**14)),
        "name": f"{account}'s Page",
        "instagram_business_account": f"17841{ig % 10**12:012d}",
    }


class MetaLogins:
    """``/me/accounts``, ``/{page}?fields=instagram_business_account``, ``/me/permissions``."""

    def __init__(self, ctx: Context, platforms: Mapping[str, Platform], record: Record) -> None:
        self._ctx = ctx
        self._platforms = platforms
        self._record = record
        self.pages: dict[str, list[Page]] = {}
        self.declined: dict[str, set[str]] = {}  # the permissions a person unticked

    def reset(self) -> None:
        """Forget the Pages and declined permissions tests set."""
        self.pages.clear()
        self.declined.clear()

    def pages_of(self, account: str) -> list[Page]:
        """The Pages ``account`` manages."""
        return self.pages.get(account) or [default_page(account)]

    def route(self, request: Request, name: str, path: str) -> Work | None:
        """The work for a Meta login request, or None."""
        edge = META.edge(path)
        if edge is None:
            return None
        if (request.method, edge) == ("GET", "/me/accounts"):
            return lambda: self._accounts(request, name)
        if (request.method, edge) == ("GET", "/me/permissions"):
            return lambda: self._permissions(request, name)
        if (request.method, edge) == ("DELETE", "/me/permissions"):
            return lambda: self._deauthorize(request, name)
        fields = request.query.get("fields", "")
        node = edge.strip("/")
        if request.method == "GET" and node.isdigit() and fields == "instagram_business_account":
            return lambda: self._linked(request, name, node)
        return None

    def _account(self, request: Request, name: str) -> str | Response:
        token = bearer_of(request) or ""
        raw = token.rpartition(":")[2]
        account = self._ctx.store.tokens.account_for(name, raw) if raw else None
        if account is None or token != f"sandbox:{account}:{raw}":
            return graph_error(400, 190, "Invalid OAuth access token.", subcode=467, kind=name)
        return account

    def short_lived(self, account: str, name: str) -> Response:
        """The answer to a good code: a short-lived user token."""
        raw = self._ctx.store.tokens.issue_access(name, account, SHORT_LIVED_TTL)
        body = {
            "access_token": f"sandbox:{account}:{raw}",
            "token_type": "bearer",
            "expires_in": lifetime(self._ctx.store.tokens, name, SHORT_LIVED_TTL),
        }
        return graph_ok(body, kind=name)

    def _page_token(self, name: str, account: str, page_id: str) -> str:
        issue = getattr(self._platforms.get(name), "issue_page_token", None)
        if callable(issue):  # Facebook's Page endpoints want a token it knows as a Page's
            return str(issue(account, page_id))
        raw = self._ctx.store.tokens.issue_access(name, account, LONG_LIVED_TTL)
        return f"sandbox:{account}:{raw}"

    async def _accounts(self, request: Request, name: str) -> Response:
        account = self._account(request, name)
        if isinstance(account, Response):
            return account
        data: list[dict[str, Any]] = []
        for page in self.pages_of(account):
            token = self._page_token(name, account, page["id"])
            self._record(name, "page_token", token)
            entry: dict[str, Any] = {"id": page["id"], "name": page.get("name", page["id"])}
            entry["access_token"] = token
            if page.get("instagram_business_account"):
                entry["instagram_business_account"] = {"id": page["instagram_business_account"]}
            data.append(entry)
        return graph_ok({"data": data, "paging": {}}, kind=name)

    async def _linked(self, request: Request, name: str, page_id: str) -> Response:
        account = self._account(request, name)
        if isinstance(account, Response):
            return account
        for page in self.pages_of(account):
            if page["id"] == page_id:
                body: dict[str, Any] = {"id": page_id}
                if page.get("instagram_business_account"):
                    body["instagram_business_account"] = {"id": page["instagram_business_account"]}
                return graph_ok(body, page_id, "pages")
        message = f"Unsupported get request. Object with ID '{page_id}' does not exist"
        return graph_error(400, 100, message, subcode=33, kind=name)

    async def _permissions(self, request: Request, name: str) -> Response:
        account = self._account(request, name)
        if isinstance(account, Response):
            return account
        declined = self.declined.get(account, set())
        data = [
            {"permission": p, "status": "declined" if p in declined else "granted"}
            for p in PERMISSIONS
        ]
        return graph_ok({"data": data}, kind=name)

    async def _deauthorize(self, request: Request, name: str) -> Response:
        account = self._account(request, name)
        if isinstance(account, Response):
            return account
        self._ctx.store.tokens.revoke(name, account)
        return graph_ok({"success": True}, kind=name)

    async def set_pages(self, request: Request) -> Response:
        """``POST /_emulator/oauth/pages {"account", "pages": [...], "declined"?: [...]}``."""
        doc = json.loads(await request.body() or b"{}")
        account, pages = doc.get("account"), doc.get("pages")
        if not isinstance(account, str) or not isinstance(pages, list):
            return Response.json(400, {"error": "expected {account, pages: [{id, ...}]}"})
        self.pages[account] = [{k: str(v) for k, v in p.items()} for p in pages]
        self.declined[account] = {str(p) for p in doc.get("declined") or []}
        return Response.json(200, {"ok": True})
