"""Both of X's user contexts behind one ``send``: OAuth 1.0a signatures or OAuth 2.0 bearers.

OAuth 2.0 (PKCE-issued user tokens, rotating single-use refresh tokens) goes through the
shared ``OAuth2Tokens`` (providers/auth): one refresh at a time per account, the rotated
refresh token stored in the vault before the new access token is used, one refresh on 401.
X's confidential clients authenticate to the token endpoint with HTTP Basic
(providers.md §7.1).

OAuth 1.0a: the app's consumer key and secret come from ``.env``, the user's access token
and token secret from the vault (``Credentials.access_token`` and ``extra["token_secret"]``);
every request is signed afresh by ``oauth1_header`` (Authlib's RFC 5849 HMAC-SHA1, a new nonce
and timestamp per request, so a retry is signed again). Only the query is signed: X's JSON
and multipart bodies are not part of the signature. A 401 means the token was revoked (they
never expire): ``ReauthRequired``. In sandbox an account without a token pair logs in
through the emulator's three-legged flow (request_token, authorize, access_token) first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx

from atroposd.clock import Clock
from atroposd.errors import ReauthRequired, TransientError
from atroposd.providers._http import guarded
from atroposd.providers.auth import OAuth1Keys, OAuth2Tokens, TokenEndpoint, oauth1_header
from atroposd.providers.base import Credentials, CredentialStore
from atroposd.providers.x.errors import NAME, classify

OAUTH1, OAUTH2 = "oauth1", "oauth2"
MODES = (OAUTH1, OAUTH2)


@dataclass(frozen=True, repr=False)
class XApp:
    """The app's credentials: OAuth 2.0 client and OAuth 1.0a consumer; never logged."""

    client_id: str
    client_secret: str
    consumer_key: str
    consumer_secret: str

    def __repr__(self) -> str:
        return "XApp(<redacted>)"


class XAuth:
    """Sends a request for an account in its user context."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_base: str,
        app: XApp,
        store: CredentialStore,
        clock: Clock,
        sandbox: bool,
    ) -> None:
        self._http = http
        self._api = api_base.rstrip("/")
        self._app = app
        self._store = store
        self._clock = clock
        self._sandbox = sandbox
        self._login_lock = asyncio.Lock()
        self._keys_of: dict[str, OAuth1Keys] = {}  # read once: 1.0a tokens never expire
        endpoint = TokenEndpoint(
            NAME,
            f"{self._api}/2/oauth2/token",
            app.client_id,
            app.client_secret,
            auth_method="client_secret_basic",
        )
        self.oauth2 = OAuth2Tokens(
            http,
            endpoint,
            store,
            clock,
            classify=lambda resp, step: classify(resp, step, "", clock.now()),
        )

    async def send(
        self,
        account: str,
        mode: str,
        step: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request in the account's user context (``mode``: oauth1 or oauth2)."""
        target = str(httpx.URL(url, params=params)) if params else url
        head = dict(headers or {})

        def request(auth: dict[str, str]) -> Awaitable[httpx.Response]:
            return self._http.request(
                method, target, json=json, content=content, headers={**head, **auth}
            )

        if mode == OAUTH2:
            return await self.oauth2.send(account, step, request)
        keys = await self._keys(account)
        signed = {"Authorization": oauth1_header(keys, method, target)}
        resp: httpx.Response = await guarded(NAME, step, lambda: request(signed))
        if resp.status_code == 401:
            self._keys_of.pop(account, None)  # a new login in the vault is read next time
        return resp

    async def _keys(self, account: str) -> OAuth1Keys:
        if account in self._keys_of:
            return self._keys_of[account]
        async with self._login_lock:  # one read (or sandbox login) at a time
            if account in self._keys_of:
                return self._keys_of[account]
            creds = await asyncio.to_thread(self._store.load, account, NAME)
            if creds.access_token and creds.extra.get("token_secret"):
                keys = OAuth1Keys.of(self._app.consumer_key, self._app.consumer_secret, creds)
            elif self._sandbox:
                keys = await self._sandbox_login(account, creds)
            else:
                raise ReauthRequired(
                    f"no X OAuth 1.0a access token and secret stored for account {account!r}; "
                    "store the pair from the developer console or the three-legged login",
                    platform=NAME,
                )
            self._keys_of[account] = keys
            return keys

    async def _sandbox_login(self, account: str, creds: Credentials) -> OAuth1Keys:
        """The three-legged flow against the emulator, which approves at once."""
        app = OAuth1Keys(self._app.consumer_key, self._app.consumer_secret, "", "")
        url = f"{self._api}/oauth/request_token"
        temp = await self._form_call(
            "POST", url, oauth1_header(app, "POST", url, extra=[("oauth_callback", "oob")])
        )
        approve = str(
            httpx.URL(
                f"{self._api}/oauth/authorize",
                params={"oauth_token": temp["oauth_token"], "screen_name": account},
            )
        )
        verifier = (await self._form_call("GET", approve, None))["oauth_verifier"]
        pending = OAuth1Keys(
            app.consumer_key, app.consumer_secret, temp["oauth_token"], temp["oauth_token_secret"]
        )
        url = f"{self._api}/oauth/access_token"
        header = oauth1_header(pending, "POST", url, extra=[("oauth_verifier", verifier)])
        got = await self._form_call("POST", url, header)
        extra = {
            **creds.extra,
            "token_secret": got["oauth_token_secret"],
            "user_id": got["user_id"],
        }
        fresh = Credentials(got["oauth_token"], creds.refresh_token, creds.expires_at, extra)
        await asyncio.to_thread(self._store.save, account, NAME, fresh)
        return OAuth1Keys.of(self._app.consumer_key, self._app.consumer_secret, fresh)

    async def _form_call(self, method: str, url: str, header: str | None) -> dict[str, str]:
        headers = {"Authorization": header} if header else {}
        resp = await guarded(
            NAME, "oauth1 login", lambda: self._http.request(method, url, headers=headers)
        )
        answer = dict(parse_qsl(resp.text))
        if resp.status_code != 200 or not answer.get("oauth_token"):
            raise TransientError(
                f"oauth1 login: HTTP {resp.status_code} from the sandbox", platform=NAME
            )
        return answer
