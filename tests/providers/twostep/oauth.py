"""Bearer tokens for the two-step platform, whose refresh tokens rotate on every refresh."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from atroposd.clock import Clock
from atroposd.errors import ReauthRequired
from atroposd.providers._http import guarded, json_body
from atroposd.providers.base import Credentials, CredentialStore
from tests.providers.twostep.errors import NAME, classify

EARLY = timedelta(seconds=60)  # refresh this long before the access token expires


class RotatingOAuth:
    """One refresh at a time per account; a rotated refresh token is saved before any use."""

    def __init__(
        self, http: httpx.AsyncClient, token_url: str, store: CredentialStore, clock: Clock
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._store = store
        self._clock = clock
        self._tokens: dict[str, Credentials] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _current(self, account: str) -> Credentials:
        return self._tokens.get(account) or self._store.load(account, NAME)

    def _fresh(self, creds: Credentials) -> bool:
        soon = self._clock.now() + EARLY
        return bool(creds.access_token) and (creds.expires_at is None or creds.expires_at > soon)

    async def token(self, account: str) -> str:
        """A usable access token, refreshed first when missing or about to expire."""
        creds = self._current(account)
        if not self._fresh(creds):
            creds = await self.refresh(account, creds.access_token)
        self._tokens[account] = creds
        return creds.access_token

    async def refresh(self, account: str, stale: str) -> Credentials:
        """Replace the access token ``stale`` (unless another task already did)."""
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:
            creds = self._current(account)
            if creds.access_token != stale and self._fresh(creds):
                return creds  # refreshed while this task waited: its rotated token is current
            fresh = await self._exchange(account, creds)
            # The old refresh token may be dead now: the new one is stored before any use.
            self._store.save(account, NAME, fresh)
            self._tokens[account] = fresh
            return fresh

    async def _exchange(self, account: str, creds: Credentials) -> Credentials:
        if not creds.refresh_token:
            raise ReauthRequired(f"no {NAME} refresh token for account {account!r}", platform=NAME)
        form = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token}
        resp = await guarded(
            NAME, "token refresh", lambda: self._http.post(self._token_url, data=form)
        )
        body = json_body(resp)
        if resp.status_code in (400, 401) and isinstance(body.get("error"), str):
            error = classify(resp, "token refresh", self._clock.now())
            raise ReauthRequired(
                f"token refresh: {error.code}: {error.platform_message}; "
                f"account {account!r} must log in to {NAME} again",
                platform=NAME,
                code=error.code,
                platform_message=error.platform_message,
                status=resp.status_code,
            )
        if resp.status_code != 200 or "access_token" not in body:
            raise classify(resp, "token refresh", self._clock.now())
        return Credentials(
            access_token=str(body["access_token"]),
            refresh_token=str(body.get("refresh_token") or creds.refresh_token),
            expires_at=self._clock.now() + timedelta(seconds=int(body.get("expires_in", 3600))),
            extra=creds.extra,
        )

    async def send(
        self,
        account: str,
        step: str,
        build: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """Send with a bearer token; on 401 refresh once and send again."""
        token = await self.token(account)
        resp = await guarded(NAME, step, lambda: build({"Authorization": f"Bearer {token}"}))
        if resp.status_code != 401:
            return resp
        token = (await self.refresh(account, token)).access_token
        resp = await guarded(NAME, step, lambda: build({"Authorization": f"Bearer {token}"}))
        if resp.status_code != 401:
            return resp
        raise classify(resp, step, self._clock.now())
