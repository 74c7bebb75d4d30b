"""Google OAuth 2.0 for one platform client: cached access tokens, refresh, 401 -> refresh once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from atroposd.clock import Clock
from atroposd.errors import ReauthRequired
from atroposd.providers._http import guarded, json_body
from atroposd.providers.base import Credentials, CredentialStore
from atroposd.providers.youtube.errors import NAME, classify


class GoogleOAuth:
    """Bearer tokens per account, refreshed ahead of expiry and once after a 401."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token_url: str,
        client_id: str,
        client_secret: str,
        store: CredentialStore,
        clock: Clock,
    ) -> None:
        self._http = http
        self._token_url = token_url
        self._client = (client_id, client_secret)
        self._store = store
        self._clock = clock
        self._tokens: dict[str, Credentials] = {}

    async def token(self, account: str) -> str:
        creds = self._tokens.get(account) or self._store.load(account, NAME)
        soon = self._clock.now() + timedelta(seconds=60)
        if not creds.access_token or (creds.expires_at is not None and creds.expires_at <= soon):
            creds = await self.refresh(account, creds)
        self._tokens[account] = creds
        return creds.access_token

    async def refresh(self, account: str, creds: Credentials) -> Credentials:
        """Exchange the refresh token for a new access token and store it."""
        if not creds.refresh_token:
            raise ReauthRequired(f"no refresh token for account {account!r}", platform=NAME)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": self._client[0],
            "client_secret": self._client[1],
        }
        resp = await guarded(
            NAME, "token refresh", lambda: self._http.post(self._token_url, data=form)
        )
        body = json_body(resp)
        if resp.status_code in (400, 401) and body.get("error"):
            raise ReauthRequired(
                f"token refresh: {body.get('error')}: {body.get('error_description', '')}; "
                f"account {account!r} must log in to YouTube again",
                platform=NAME,
                code=str(body.get("error")),
                platform_message=str(body.get("error_description", "")),
                status=resp.status_code,
            )
        if resp.status_code != 200 or "access_token" not in body:
            raise classify(resp, "token refresh", self._clock.now())
        fresh = Credentials(
            access_token=str(body["access_token"]),
            refresh_token=creds.refresh_token,
            expires_at=self._clock.now() + timedelta(seconds=int(body.get("expires_in", 3600))),
            extra=creds.extra,
        )
        self._store.save(account, NAME, fresh)
        self._tokens[account] = fresh
        return fresh

    async def send(
        self,
        account: str,
        step: str,
        build: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """Send with a bearer token; on 401 refresh once and send again."""
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {await self.token(account)}"}
            resp = await guarded(NAME, step, lambda auth=auth: build(auth))  # type: ignore[misc]
            if resp.status_code != 401:
                return resp
            if attempt == 1:
                stale = self._tokens.pop(account, None) or self._store.load(account, NAME)
                await self.refresh(account, stale)
        raise classify(resp, step, self._clock.now())
