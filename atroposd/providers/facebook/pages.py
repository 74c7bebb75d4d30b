"""Page access tokens (providers.md §2.2): what Facebook's Page endpoints want.

The vault holds the account's Meta token (a long-lived user token, renewed with
``fb_exchange_token`` by ``MetaTokens``; or a Page token someone stored, which Graph hands
back as it is). A Page token is asked of it with ``GET /{page_id}?fields=access_token`` and
kept in memory only: it is derived again after a restart or when Graph refuses it (190), and
that request renews the account's token once if Graph refuses that too. ``PageTokens`` is a
``MetaTokens`` whose ``send`` and ``token`` speak for the Page, so the shared rupload client
sends Page tokens without knowing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from atroposd.clock import Clock
from atroposd.errors import PermanentError
from atroposd.providers._http import guarded, json_body
from atroposd.providers.auth import TokenEndpoint
from atroposd.providers.base import CredentialStore
from atroposd.providers.meta import MetaTokens, classify, is_auth_error
from atroposd.providers.meta.tokens import Build

PageOf = Callable[[str], str]  # account -> its Page id


class PageTokens(MetaTokens):
    """Every account's Page token on one Page-per-account platform (Facebook)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: TokenEndpoint,
        store: CredentialStore,
        clock: Clock,
        graph_root: str,
        page_of: PageOf,
        sandbox: bool = False,
    ) -> None:
        super().__init__(http, endpoint, store, clock, sandbox)
        self._http = http
        self._root = graph_root
        self._page_of = page_of
        self._pages: dict[str, str] = {}  # account -> Page token (memory only)
        self._locks: dict[str, asyncio.Lock] = {}

    async def token(self, account: str) -> str:
        """The account's Page token, asked of Graph once per process (or after a refusal)."""
        async with self._locks.setdefault(account, asyncio.Lock()):
            cached = self._pages.get(account)
            if cached is not None:
                return cached
            page_id = self._page_of(account)
            step = "get the Page access token"
            resp = await super().send(
                account,
                step,
                lambda token: self._http.get(
                    f"{self._root}/{page_id}",
                    params={"fields": "access_token"},
                    headers={"Authorization": f"OAuth {token}"},
                ),
            )
            value = json_body(resp).get("access_token")
            if resp.status_code != 200:
                raise classify(self.platform, resp, step, self._clock.now())
            if not isinstance(value, str) or not value:
                # Graph answers a Page the login does not manage with its public fields only.
                raise PermanentError(
                    f"{step}: Facebook gave no Page access token for Page {page_id}: the "
                    f"account {account!r} logged in must manage that Page (CREATE_CONTENT) "
                    "and grant pages_manage_posts, pages_read_engagement and pages_show_list; "
                    "check the Page id in upload_config.json, then `atroposd retry` the post",
                    platform=self.platform,
                    code="noPageToken",
                )
            self._pages[account] = value
            return value

    def _forget(self, account: str, token: str) -> None:
        if self._pages.get(account) == token:
            del self._pages[account]

    async def send(self, account: str, step: str, build: Build) -> httpx.Response:
        """Send with the Page token; refused (190/401): derive a new one once and send again.

        A second refusal raises ``ReauthRequired`` for this account's Facebook only.
        """
        token = await self.token(account)
        resp = await guarded(self.platform, step, lambda: build(token))
        if not is_auth_error(resp):
            return resp
        self._forget(account, token)
        fresh = await self.token(account)
        resp = await guarded(self.platform, step, lambda: build(fresh))
        if is_auth_error(resp):
            self._forget(account, fresh)
            raise classify(self.platform, resp, step, self._clock.now())
        return resp
