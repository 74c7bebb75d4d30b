"""OAuth 2.0 bearer tokens for one platform: cached, refreshed one at a time, rotation-safe.

The protocol pieces come from Authlib (``prepare_token_request`` builds the RFC 6749 §6
refresh body, ``ClientAuth`` adds the client credentials as ``client_secret_post`` or
``client_secret_basic``); the request goes through the daemon's injected
``httpx.AsyncClient``. Authlib's own ``AsyncOAuth2Client`` *is* an ``httpx.AsyncClient``
holding a single token, so it cannot share the injected client, its timeouts and its test
transport, nor keep tokens per account (docs/adr/0002-one-oauth-module.md).

Rules kept here for every platform:

- one refresh at a time per (account, platform): an ``asyncio.Lock`` per key; a caller that
  waited re-reads the token and uses the one just refreshed instead of refreshing again;
- a refresh token the platform returns (X and TikTok rotate it on every refresh) is written
  to the credential store (the vault: temp file, fsync, rename; off the event loop) *before*
  the new access token is handed to anyone. If that write fails, the fresh credentials stay
  in memory, unused, and the next call stores them first instead of refreshing again;
- "about to expire" is the endpoint's leeway, but never more than half the lifetime the
  platform last gave (a 60-second token is not refreshed before every request);
- ``refresh_if_due`` lets the daemon's refresh job (``pipeline/tokens.py``) refresh ahead of
  expiry under the same per-key lock; ``keepers(http)`` lists the token keepers built on one
  HTTP client (the daemon's), so the job finds every provider's without new plumbing;
- token endpoint errors, read from the body whatever the HTTP status: ``invalid_grant``
  (and every other OAuth error answer) → ``ReauthRequired``; 429 → ``RateLimited``; 5xx,
  ``server_error``/``temporarily_unavailable``, an answer with no OAuth error in its body (a
  proxy's or CDN's page), timeouts, connection failures →
  ``TransientError``. No token or client secret ever appears in an error or a log line.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx
import structlog
from authlib.common.urls import add_params_to_qs
from authlib.oauth2.auth import ClientAuth, encode_client_secret_basic

from atroposd.clock import Clock
from atroposd.domain import FINISH_ON_STOP
from atroposd.errors import ProviderError, ReauthRequired, TransientError
from atroposd.providers._http import guarded
from atroposd.providers.auth.grants import GRANTS, request_token, token_answer
from atroposd.providers.base import Credentials, CredentialStore

log = structlog.get_logger("atroposd.oauth")
Classify = Callable[[httpx.Response, str], ProviderError]
_KEEPERS: weakref.WeakSet[OAuth2Tokens] = weakref.WeakSet()


def keepers(http: httpx.AsyncClient) -> list[OAuth2Tokens]:
    """Every live ``OAuth2Tokens`` built on ``http`` (the daemon's client), by platform."""
    return sorted((k for k in list(_KEEPERS) if k._http is http), key=lambda k: k.platform)


@runtime_checkable
class SwappingStore(Protocol):
    """A credential store that saves a refresh only over the grant it came from (the vault)."""

    def save_if(
        self, account: str, platform: str, creds: Credentials, expected: Credentials
    ) -> Credentials | None: ...


def save_if(
    store: CredentialStore, account: str, platform: str, creds: Credentials, expected: Credentials
) -> Credentials | None:
    """``store.save_if`` when the store has it; else a plain save (None: saved)."""
    if isinstance(store, SwappingStore):
        return store.save_if(account, platform, creds, expected)
    store.save(account, platform, creds)
    return None


@dataclass(frozen=True, repr=False)
class TokenEndpoint:
    """Where and how one platform refreshes tokens (declared by its provider's ``build``)."""

    platform: str
    url: str
    client_id: str
    client_secret: str
    auth_method: str = "client_secret_post"  # or "client_secret_basic" (RFC 6749 §2.3.1)
    client_id_param: str = "client_id"  # TikTok names it "client_key"
    leeway: timedelta = timedelta(seconds=60)  # refresh this long before expiry
    grant: str = "refresh_token"  # or "fb_exchange_token" (Meta), see grants.py

    def __post_init__(self) -> None:
        if self.grant not in GRANTS:
            raise ValueError(f"unsupported grant {self.grant!r} (one of {GRANTS})")

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.platform!r}, {self.url!r}, <client redacted>)"

    def client_auth(self) -> ClientAuth:
        """Authlib's client authentication for this endpoint."""
        if self.auth_method == "client_secret_basic":
            return ClientAuth(self.client_id, self.client_secret, encode_client_secret_basic)
        if self.auth_method != "client_secret_post":
            raise ValueError(f"unsupported token endpoint auth method {self.auth_method!r}")
        name = self.client_id_param

        def post(client: Any, method: str, uri: str, headers: Any, body: str) -> Any:
            extra = [(name, client.client_id), ("client_secret", client.client_secret)]
            return uri, headers, add_params_to_qs(body, extra)

        return ClientAuth(self.client_id, self.client_secret, post)


class OAuth2Tokens:
    """Bearer tokens of every account on one platform."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        endpoint: TokenEndpoint,
        store: CredentialStore,
        clock: Clock,
        classify: Classify | None = None,
    ) -> None:
        self._http = http
        self._ep = endpoint
        self._store = store
        self._clock = clock
        self._classify = classify
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._cache: dict[str, Credentials] = {}
        # refreshed (with the grant refreshed), but the vault write failed
        self._unsaved: dict[str, tuple[Credentials, Credentials]] = {}
        self._inflight: set[asyncio.Future[Credentials]] = set()  # refreshes under way
        self._lifetimes: dict[str, timedelta] = {}  # what the platform last said per account
        self._listeners: set[Callable[[], None]] = set()  # told after every refresh
        _KEEPERS.add(self)

    @property
    def platform(self) -> str:
        """The platform these tokens are for."""
        return self._ep.platform

    def _lock(self, account: str) -> asyncio.Lock:
        return self._locks.setdefault((account, self._ep.platform), asyncio.Lock())

    def _ahead(self, account: str, wanted: timedelta) -> timedelta:
        """How long before expiry to refresh: ``wanted``, at most half the known lifetime."""
        life = self._lifetimes.get(account)
        return min(wanted, life / 2) if life is not None else wanted

    def _fresh_for(self, account: str, creds: Credentials, wanted: timedelta) -> bool:
        if not creds.access_token:
            return False
        ends = creds.expires_at
        return ends is None or ends > self._clock.now() + self._ahead(account, wanted)

    def _usable(self, creds: Credentials, account: str = "") -> bool:
        return self._fresh_for(account, creds, self._ep.leeway)

    async def refresh_if_due(self, account: str, margin: timedelta) -> Credentials | None:
        """Refresh when the access token ends within ``margin`` (or the endpoint's leeway, if
        longer: Meta's week); None when it is not due. Raises as ``token`` does."""
        async with self._lock(account):
            creds = await self._current(account)
            if creds.expires_at is None:  # never used yet, or a token that never ends
                return None
            if self._fresh_for(account, creds, max(margin, self._ep.leeway)):
                return None
            return await self._refresh(account, creds)

    def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every refresh (the refresh job wakes to plan its next)."""
        self._listeners.add(callback)

    def expires_at(self, account: str) -> datetime | None:
        """When the account's cached access token ends (None: unknown or never)."""
        cached = self._cache.get(account)
        return cached.expires_at if cached is not None else None

    def due_at(self, account: str, margin: timedelta) -> datetime | None:
        """When ``refresh_if_due`` will next find the cached token due (None: unknown)."""
        ends = self.expires_at(account)
        if ends is None:
            return None
        return ends - self._ahead(account, max(margin, self._ep.leeway))

    async def _current(self, account: str) -> Credentials:
        """What the account holds now: unsaved fresh tokens are stored first."""
        pending = self._unsaved.get(account)
        if pending is not None:
            return await self._persist(account, *pending)
        cached = self._cache.get(account)
        if cached is not None:
            return cached
        creds = await asyncio.to_thread(self._store.load, account, self._ep.platform)
        self._cache[account] = creds
        return creds

    async def token(self, account: str) -> str:
        """A valid access token, refreshed first when missing or about to expire."""
        async with self._lock(account):
            creds = await self._current(account)
            if not self._usable(creds, account):
                creds = await self._refresh(account, creds)
            return creds.access_token

    async def refresh(self, account: str, rejected: str | None = None) -> Credentials:
        """Refresh unless someone already replaced the ``rejected`` access token meanwhile."""
        async with self._lock(account):
            creds = await self._current(account)
            fresh = self._usable(creds, account)
            if rejected is not None and creds.access_token != rejected and fresh:
                return creds  # a concurrent caller refreshed while we waited for the lock
            return await self._refresh(account, creds)

    async def send(
        self,
        account: str,
        step: str,
        build: Callable[[dict[str, str]], Awaitable[httpx.Response]],
    ) -> httpx.Response:
        """Send with a bearer token; on 401 refresh once and send again."""
        token = await self.token(account)
        resp = await self._send_with(token, step, build)
        if resp.status_code != 401:
            return resp
        fresh = await self.refresh(account, rejected=token)
        resp = await self._send_with(fresh.access_token, step, build)
        if resp.status_code != 401:
            return resp
        if self._classify is not None:
            raise self._classify(resp, step)
        raise ReauthRequired(
            f"{step}: access rejected right after a token refresh (HTTP 401)",
            platform=self._ep.platform,
            status=401,
        )

    async def _send_with(
        self, token: str, step: str, build: Callable[[dict[str, str]], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"}
        return await guarded(self._ep.platform, step, lambda: build(auth))

    async def _refresh(self, account: str, creds: Credentials) -> Credentials:
        """Exchange and store, shielded: once the request is out the platform may have rotated
        the refresh token, so the answer is stored even if the caller is cancelled meanwhile
        (a shutdown); dropping it would end the login."""
        task = asyncio.create_task(
            self._exchange(account, creds), name=f"{FINISH_ON_STOP}token-refresh-{account}"
        )
        self._inflight.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Future[Credentials]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a caller cancelled meanwhile may never await it

    async def _exchange(self, account: str, creds: Credentials) -> Credentials:
        platform = self._ep.platform
        secrets = (creds.refresh_token, creds.access_token, self._ep.client_secret)
        try:
            resp = await request_token(self._http, self._ep, account, creds)
            answer = token_answer(self._ep, account, resp, secrets, self._clock.now())
        except ReauthRequired:
            self._cache.pop(account, None)  # a new login (`atroposd auth`) is read next time
            newer = await asyncio.to_thread(self._store.load, account, platform)
            if _same_login(newer, creds):
                raise
            # `auth login` stored a new grant while this process held the old one: use it.
            log.info("token_login_replaced", account=account, platform=platform)
            if self._usable(newer, account):
                self._cache[account] = newer
                return newer
            return await self._exchange(account, newer)
        returned = answer.get("refresh_token")
        rotated = bool(returned) and returned != creds.refresh_token
        life = timedelta(seconds=_seconds(answer.get("expires_in")))
        self._lifetimes[account] = life
        fresh = Credentials(
            access_token=str(answer["access_token"]),
            refresh_token=str(returned) if rotated else creds.refresh_token,
            expires_at=self._clock.now() + life,
            extra=creds.extra,
        )
        self._cache.pop(account, None)
        self._unsaved[account] = (fresh, creds)
        kept = await self._persist(account, fresh, creds)  # before anyone can use it
        if kept is not fresh:  # a new login was stored meanwhile: refresh that one if due
            return kept if self._usable(kept, account) else await self._exchange(account, kept)
        log.info("token_refreshed", account=account, platform=platform, rotated=rotated)
        for callback in list(self._listeners):
            callback()
        return fresh

    async def _persist(
        self, account: str, fresh: Credentials, refreshed: Credentials
    ) -> Credentials:
        """Store ``fresh`` over ``refreshed`` and return it; when the file no longer holds
        ``refreshed`` (``auth login`` stored a new login meanwhile), drop ``fresh`` and return
        the file's login (a rotated refresh token dropped this way leaves the new login's)."""
        platform = self._ep.platform
        try:
            held = await asyncio.to_thread(
                save_if, self._store, account, platform, fresh, refreshed
            )
        except ReauthRequired as exc:
            if exc.code != "undecryptable":  # logged out meanwhile: nothing left to store
                self._unsaved.pop(account, None)
                self._cache.pop(account, None)
            raise
        except OSError as exc:
            log.error(
                "token_store_failed",
                account=account,
                platform=self._ep.platform,
                error=exc.strerror or type(exc).__name__,
                action="kept in memory, unused; stored before the next request",
            )
            raise TransientError(
                f"token refresh: the new {self._ep.platform} tokens of account {account!r} "
                f"could not be stored ({exc.strerror or type(exc).__name__}); retrying the "
                "write before any use",
                platform=self._ep.platform,
                code="vault_write",
            ) from None
        self._unsaved.pop(account, None)
        kept = fresh if held is None else held
        if held is not None:
            log.warning(
                "token_refresh_dropped",
                account=account,
                platform=platform,
                reason="a new login was stored while this refresh was under way; it is used",
            )
        self._cache[account] = kept
        return kept


def _same_login(a: Credentials, b: Credentials) -> bool:
    return (a.refresh_token, a.access_token) == (b.refresh_token, b.access_token)


def _seconds(value: object) -> int:
    try:
        return max(0, int(str(value)))
    except ValueError:
        return 3600
