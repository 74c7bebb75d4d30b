"""Meta access tokens per account (providers.md §2.2), on the one OAuth module.

Meta issues no refresh token: the long-lived user token (~60 days) is exchanged for a new one
with ``grant_type=fb_exchange_token`` a week before it ends (``OAuth2Tokens`` with
``grant="fb_exchange_token"``, ``providers/auth/grants.py``). Graph answers a dead token with
error 190 (usually HTTP 400, sometimes 401), so ``send`` re-exchanges once on *any* answer
``is_auth_error`` recognises and, if the token is still refused, raises ``ReauthRequired``
for that account on that platform only. Page tokens derived from a long-lived user token do
not expire; one stored with ``expires_at=None`` is used as it is.

Sandbox: the vault makes ``Credentials("", refresh_token="sandbox:<account>:…")`` for a new
account; ``SandboxLogins`` presents that stand-in login as an already-expired token, so the
first call exchanges it at the emulator for a real (emulated) token, as YouTube's sandbox
refresh tokens are.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx

from atroposd.clock import Clock
from atroposd.errors import ProviderError
from atroposd.providers._http import guarded
from atroposd.providers.auth import OAuth2Tokens, TokenEndpoint
from atroposd.providers.base import Credentials, CredentialStore
from atroposd.providers.meta.errors import classify, is_auth_error

RENEW_BEFORE = timedelta(days=7)  # exchange the ~60-day token a week before it ends
SANDBOX_PREFIX = "sandbox:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Build = Callable[[str], Awaitable[httpx.Response]]  # token -> the request, sent


def meta_token_endpoint(platform: str, url: str, app_id: str, app_secret: str) -> TokenEndpoint:
    """``GET <graph>/<ver>/oauth/access_token?grant_type=fb_exchange_token…`` for ``platform``."""
    return TokenEndpoint(
        platform, url, app_id, app_secret, leeway=RENEW_BEFORE, grant="fb_exchange_token"
    )


class SandboxLogins:
    """A ``CredentialStore`` that shows a sandbox stand-in login as an expired token."""

    def __init__(self, inner: CredentialStore) -> None:
        self._inner = inner

    def load(self, account: str, platform: str) -> Credentials:
        creds = self._inner.load(account, platform)
        login = creds.refresh_token or ""
        if creds.access_token or not login.startswith(SANDBOX_PREFIX):
            return creds
        return Credentials(login, refresh_token=login, expires_at=_EPOCH, extra=creds.extra)

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        self._inner.save(account, platform, creds)


class MetaTokens:
    """Every account's Graph token for one Meta platform."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: TokenEndpoint,
        store: CredentialStore,
        clock: Clock,
        sandbox: bool = False,
    ) -> None:
        self._clock = clock
        self.platform = endpoint.platform
        self._tokens = OAuth2Tokens(
            http, endpoint, SandboxLogins(store) if sandbox else store, clock
        )

    async def token(self, account: str) -> str:
        """A usable token (exchanged first when missing or within a week of its end)."""
        return await self._tokens.token(account)

    def _refused(self, response: httpx.Response, step: str) -> ProviderError:
        return classify(self.platform, response, step, self._clock.now())

    async def send(self, account: str, step: str, build: Build) -> httpx.Response:
        """Send with the account's token; on error 190/401 exchange once and send again.

        A second refusal raises ``ReauthRequired`` (classify); any other answer is returned
        for the caller to read or classify.
        """
        token = await self._tokens.token(account)
        resp = await guarded(self.platform, step, lambda: build(token))
        if not is_auth_error(resp):
            return resp
        fresh = await self._tokens.refresh(account, rejected=token)
        resp = await guarded(self.platform, step, lambda: build(fresh.access_token))
        if is_auth_error(resp):
            raise self._refused(resp, step)
        return resp
