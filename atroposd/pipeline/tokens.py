"""Refresh ahead of expiry, and one alert per dead login (issue 9).

``TokenRefresher`` is a daemon job: it wakes when the first access token of any account on
any platform comes within ``TOKEN_REFRESH_MARGIN_SECONDS`` of its end (never more than half
the token's lifetime before; Meta's long-lived token a week before its ~60 days end) and
refreshes it through the provider's own ``OAuth2Tokens``, so the per-(account, platform) lock,
the rotated-refresh-token-first rule and the error mapping are the same as for a post's
request. Only tokens with a known end are refreshed ahead: a login not used yet, an X OAuth
1.0a pair or a Page token without expiry is left to the first request.

A dead login (``ReauthRequired``: ``invalid_grant``, a revoked grant) parks only that account
on that platform: ONE ``ERR`` line naming the command that reconnects it, its waiting posts
moved to ``needs_attention`` (attention ``login``) without a line each; the other accounts and
platforms go on. Nothing prompts. The pair is tried again only once its token file changes
(``atroposd auth login`` wrote a new one), so a dead login does not hammer the platform.
Posts that hit the same dead login on their own log no second ``ERR`` (``LoginAlerts``).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import structlog

from atroposd.bus import Bus, PostChanged
from atroposd.clock import Clock
from atroposd.domain import Attention, FileIdentity, PostState
from atroposd.errors import ProviderError, ReauthRequired
from atroposd.providers.auth.oauth2 import OAuth2Tokens, keepers
from atroposd.store.ledger import Ledger
from atroposd.vault import note

log = structlog.get_logger("atroposd")
S = PostState
PARKABLE = (S.PLANNED, S.READY)  # waiting posts; one in flight meets the dead login itself
MOST_SLEEP = 60.0  # look again at least this often (a login written meanwhile, a new account)
LEAST_SLEEP = 0.2
FIRST_BACKOFF, MOST_BACKOFF = 5.0, 600.0  # a refresh that failed for now (offline, throttled)
Pair = tuple[str, str]


def reconnect(account: str, platform: str) -> str:
    """The command that logs ``account`` in to ``platform`` again."""
    return f"atroposd auth login {platform} --account {account}"


class LoginAlerts:
    """Which (account, platform) logins are known dead: the first report of one logs ERR."""

    def __init__(self) -> None:
        self._dead: dict[Pair, str] = {}

    def first(self, account: str, platform: str, error: str) -> bool:
        """Record a dead login; True only the first time (the caller logs the ERR line)."""
        if (account, platform) in self._dead:
            return False
        self._dead[(account, platform)] = error
        return True

    def next_for(self, account: str, platform: str, error: str) -> str | None:
        """The ``next`` of a post's ERR line for a dead login (the command that reconnects
        it), or None when that login was already reported: the post waits quietly."""
        if not self.first(account, platform, error):
            return None
        return f"needs attention: log in again with `{reconnect(account, platform)}`"

    def ok(self, account: str, platform: str) -> None:
        """The login works (again): a later failure is news."""
        self._dead.pop((account, platform), None)

    def dead(self) -> dict[Pair, str]:
        """The dead logins and why."""
        return dict(self._dead)


_ALERTS: weakref.WeakKeyDictionary[Ledger, LoginAlerts] = weakref.WeakKeyDictionary()


def alerts_for(ledger: Ledger) -> LoginAlerts:
    """The daemon's dead-login record, one per ledger: shared by the refresh job and the
    outcomes of posts without wiring one through every constructor."""
    found = _ALERTS.get(ledger)
    if found is None:
        found = _ALERTS[ledger] = LoginAlerts()
    return found


class TokenRefresher:
    """The refresh-ahead job of the daemon."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        accounts: Callable[[], Iterable[str]],
        platforms_for: Callable[[str], Iterable[str]],
        ledger: Ledger,
        bus: Bus,
        tokens_dir: Path,
        margin: float,
        clock: Clock,
    ) -> None:
        self._http = http
        self._accounts = accounts  # read each pass: a reloaded config is followed
        self._platforms_for = platforms_for
        self._ledger = ledger
        self._bus = bus
        self._alerts = alerts_for(ledger)
        self._dir = tokens_dir
        self._margin = timedelta(seconds=margin)
        self._clock = clock
        self._parked_at: dict[Pair, FileIdentity | None] = {}  # dead pair -> its token file
        self._noted: dict[Pair, datetime | None] = {}  # the access expiry last noted
        self._wake = asyncio.Event()  # a token was refreshed (by a post): plan again
        self._backoff: dict[Pair, tuple[datetime, float]] = {}  # failed for now: (until, wait)

    async def run(self) -> None:
        """Refresh what is due, sleep until the next token is due (bounded), forever."""
        while True:
            self._wake.clear()
            wait = await self.tick()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def wake(self) -> None:
        """Look again now (the scheduler's wall-clock timer calls it: after a suspend the
        event loop's own waits end late)."""
        self._wake.set()

    async def tick(self) -> float:
        """One pass over every account's token on every platform; seconds until the next."""
        wanted = {(a, p) for a in self._accounts() for p in self._platforms_for(a)}
        jobs = [
            (keeper, account)
            for keeper in keepers(self._http)
            for account, platform in sorted(wanted)
            if platform == keeper.platform
        ]
        for keeper in {keeper for keeper, _ in jobs}:
            keeper.listen(self._wake.set)  # a token first used by a post: plan for it
        await asyncio.gather(*(self._one(keeper, account) for keeper, account in jobs))
        return self._next_wake(jobs)

    def _next_wake(self, jobs: list[tuple[OAuth2Tokens, str]]) -> float:
        now = self._clock.now()
        due = [
            self._backoff.get((a, k.platform), (k.due_at(a, self._margin), 0.0))[0] for k, a in jobs
        ]
        waits = [(d - now).total_seconds() for d in due if d is not None]
        return min([MOST_SLEEP, *(max(LEAST_SLEEP, w) for w in waits)])

    def _stamp(self, account: str, platform: str) -> FileIdentity | None:
        try:
            return FileIdentity.of(self._dir / account / f"{platform}.json.enc")
        except FileNotFoundError:
            return None

    async def _one(self, keeper: OAuth2Tokens, account: str) -> None:
        pair = (account, keeper.platform)
        held = self._backoff.get(pair)
        if held is not None and held[0] > self._clock.now():
            return  # failed for now a moment ago: not before its backoff ends
        try:
            await self._try(keeper, account, pair)
        except (ProviderError, OSError) as exc:  # throttled, offline, a folder unreadable
            await self._later(pair, held, exc)

    async def _try(self, keeper: OAuth2Tokens, account: str, pair: Pair) -> None:
        stamp = self._stamp(*pair)
        if pair in self._parked_at and self._parked_at[pair] == stamp:
            return  # still the dead login: wait for a new one
        if stamp is None:
            return  # never logged in: the first post says so (once)
        try:
            fresh = await keeper.refresh_if_due(account, self._margin)
        except ReauthRequired as exc:
            self._parked_at[pair] = self._stamp(*pair)
            self.park(account, keeper.platform, str(exc), exc.code)  # the ledger: on the loop
            facts = {"last_error": str(exc), "last_error_at": self._clock.now()}
            await asyncio.to_thread(self._note, pair, **facts)
            return
        self._parked_at.pop(pair, None)
        self._backoff.pop(pair, None)
        if fresh is not None:
            self._alerts.ok(*pair)  # a refresh went through: the login works
        ends = fresh.expires_at if fresh is not None else keeper.expires_at(account)
        if ends != self._noted.get(pair, ends if fresh is None else None):
            # refreshed now, or by a post's request since the last pass
            self._noted[pair] = ends
            await asyncio.to_thread(
                self._note,
                pair,
                last_refresh=self._clock.now(),
                access_expires_at=ends,
                last_error=None,
            )

    async def _later(
        self, pair: Pair, held: tuple[datetime, float] | None, exc: ProviderError | OSError
    ) -> None:
        """A refresh that failed for now: again after a backoff (one warning line)."""
        wait = min(MOST_BACKOFF, held[1] * 2) if held is not None else FIRST_BACKOFF
        wait = max(wait, getattr(exc, "retry_after", None) or 0.0)
        self._backoff[pair] = (self._clock.now() + timedelta(seconds=wait), wait)
        error = str(exc) if isinstance(exc, ProviderError) else f"{exc.filename}: {exc.strerror}"
        log.warning(
            "token_refresh_failed", account=pair[0], platform=pair[1], error=error, retry_in=wait
        )
        await asyncio.to_thread(self._note, pair, last_error=error)

    def _note(self, pair: Pair, **facts: object) -> None:
        try:
            note(self._dir, pair[0], pair[1], **facts)
        except OSError as exc:  # the facts are for `auth status`; the job goes on
            log.warning("token_note_failed", account=pair[0], platform=pair[1], error=str(exc))

    def park(self, account: str, platform: str, error: str, code: object = None) -> int:
        """One ERR line for the dead login (unless already said); its waiting posts to
        ``needs_attention`` quietly. Returns how many posts were parked."""
        command = reconnect(account, platform)
        if self._alerts.first(account, platform, error):
            log.error(
                "ERR",
                account=account,
                platform=platform,
                error=error,
                code=code,
                next=f"needs attention: log in again with `{command}`; posts wait until then",
            )
        parked = 0
        for post in self._ledger.list_posts(PARKABLE, account=account, platform=platform):
            done = self._ledger.transition(
                post.id,
                [post.state],
                S.NEEDS_ATTENTION,
                note=f"needs attention: log in again with `{command}`",
                last_error=error,
                attention=Attention.LOGIN,
            )
            if done is not None:
                parked += 1
                self._bus.publish(PostChanged(done.id, done.state))
        return parked
