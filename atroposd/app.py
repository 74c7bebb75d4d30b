"""The composition root: builds every object from validated settings and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from atroposd import reload
from atroposd.bus import Bus, PostChanged
from atroposd.clock import Clock, SystemClock
from atroposd.config import Settings, UploadConfig, missing_platform_ids, platform_id
from atroposd.domain import ACTIVE, FINISH_ON_STOP, ClipFiles
from atroposd.errors import ConfigError, InputError
from atroposd.keys import check_logins, load_keys
from atroposd.lifecycle import (
    Stopper,
    block_loop_on_sigusr1,
    count_posts,
    env_file_values,
    every,
    heartbeat,
    supervise,
)
from atroposd.log import Redactor
from atroposd.pipeline.alerts import FORECAST_SECONDS, make_alerts
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.intake import Intake
from atroposd.pipeline.manifests import is_manifest_source, manifest_job
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.reconcile import Reconciler
from atroposd.pipeline.retry import RetryPolicy
from atroposd.pipeline.scheduler import PostScheduler
from atroposd.pipeline.tokens import TokenRefresher
from atroposd.pipeline.variants import MediaCheck
from atroposd.preflight import folder, is_emulator, listening, open_ledger
from atroposd.providers import REGISTRY
from atroposd.providers.auth.oauth2 import save_if
from atroposd.providers.base import Credentials, CredentialStore, Provider, ProviderContext
from atroposd.sdnotify import Notifier
from atroposd.store.db import StateLock
from atroposd.store.ledger import Ledger
from atroposd.store.locks import FolderLocks
from atroposd.vault import Vault
from atroposd.watch.watcher import ClipWatcher

log = structlog.get_logger("atroposd")
SHUTDOWN_GRACE_SECONDS = 5.0


class RedactingStore:
    """A credential store that teaches the log redactor every token it hands out."""

    def __init__(self, inner: CredentialStore, redactor: Redactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def load(self, account: str, platform: str) -> Credentials:
        creds = self._inner.load(account, platform)
        live = (creds.access_token, creds.refresh_token, *creds.extra.values())
        self._redactor.current((account, platform), *live)  # replaced tokens age out
        return creds

    def save(self, account: str, platform: str, creds: Credentials) -> None:
        live = (creds.access_token, creds.refresh_token, *creds.extra.values())
        self._redactor.current((account, platform), *live)  # replaced tokens age out
        self._inner.save(account, platform, creds)

    def save_if(self, account: str, platform: str, new: Credentials, old: Credentials) -> Any:
        self._redactor.current((account, platform), new.access_token, new.refresh_token)
        held = save_if(self._inner, account, platform, new, old)  # a refresh, over its grant
        return held if held is None else self.load(account, platform)  # (a new login's)


@dataclass
class Services:
    """Every long-lived object of one daemon process."""

    ledger: Ledger
    bus: Bus
    intake: Intake
    publisher: Publisher
    reconciler: Reconciler
    archiver: Archiver
    watcher: ClipWatcher
    providers: Mapping[str, Provider]
    http: httpx.AsyncClient


class App:
    """Owns start-up, the task group and shutdown."""

    def __init__(
        self,
        settings: Settings,
        config: UploadConfig,
        redactor: Redactor,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.redactor = redactor
        self.clock = clock or SystemClock()
        self._lock = StateLock(settings.state_dir)
        watched = (("UPLOAD_FOLDER", settings.upload_folder), ("OUT_ROOT", settings.out_root))
        self._folder_locks = FolderLocks(watched)  # one daemon per watched folder too
        self._emulator: Any = None
        self.sv: Services
        self.only: tuple[str | None, str | None] = (None, None)
        # Long-lived tasks that commands above the composition root add (the local API):
        # run under the same supervisor as the publisher, started after ``build``.
        self.extra_jobs: dict[str, Callable[[], Awaitable[None]]] = {}
        self.notifier = Notifier.from_environ()  # systemd's NOTIFY_SOCKET (sdnotify.py)
        self.stopper = Stopper()  # SIGTERM/SIGINT: a staged stop; a second one: at once
        self.env_file: Path | None = Path(".env")  # re-read on SIGHUP (the CLI's --env-file)
        # Called with the new settings and config after a reload was applied (the scheduler).
        self.reload_hooks: list[Callable[[Settings, UploadConfig], None]] = []
        self._env_at: dict[str, str] = {}  # the .env's values at start (reload.read)
        self.reloader = reload.Reloader(
            lambda: reload.read(self.env_file, self._env_at),
            self._apply,
            self.notifier.reloading,
            lambda: self.notifier.ready(self.status_line(self.sv)),
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._summary: dict[str, object] = {}  # daemon_stopped's fields
        for name in settings.secrets:
            redactor.pin(settings.secret(name))

    def _fernet_key(self, now: bool = False) -> list[str]:  # now: .env again (docs/auth.md)
        s = reload.settings_now(self.env_file, self._env_at) if now else self.settings
        found = load_keys(s)  # several keys, $CREDENTIALS_DIRECTORY (keys.py)
        self.redactor.pin(*found)
        return found

    def _providers(
        self, http: httpx.AsyncClient, creds: CredentialStore, have: Collection[str] = ()
    ) -> dict[str, Provider]:
        """Providers of the enabled platforms not in ``have`` (a reload adds the new ones)."""
        self._wiring = (http, creds)
        s = self.settings
        wanted = {p for acc in self.config.accounts.values() for p in acc.platforms.enabled()}
        wanted -= set(have)
        missing = missing_platform_ids(self.config, s)
        if missing:
            raise ConfigError("\n".join(missing))
        ctx = ProviderContext(
            http=http,
            credentials=creds,
            clock=self.clock,
            sandbox=s.sandbox,
            sandbox_url=s.sandbox_url,
            chunk_size=s.chunk_size,
            secrets={n: s.secret(n) or "" for n in s.secrets},
            overrides=s.platform_settings,
            account_ids=lambda platform, account: platform_id(self.config, s, account, platform),
            accounts=lambda platform: self.config.choices_on(platform),
        )
        return {name: REGISTRY[name](ctx) for name in sorted(wanted) if name in REGISTRY}

    def _options(self, account: str, platform: str) -> Mapping[str, object]:
        acc = self.config.accounts.get(account)
        block = getattr(acc.platforms, platform, None) if acc else None
        return block.model_dump() if block is not None else {}

    def platforms_for(self, account: str) -> list[str]:
        """The enabled platforms of ``account`` in the config now (a reload may change it)."""
        return self.config.platforms_for(account)

    def enabled_of(self, account: str) -> list[str]:
        """The platforms enabled for ``account`` (the config read now)."""
        return list(self.config.platforms_for(account))

    def _native(self, platform: str) -> bool:
        """True when ``platform`` publishes at a given time itself (its capabilities say so)."""
        provider = self.sv.providers.get(platform)
        return provider is not None and provider.capabilities.schedules_natively

    def enabled(self, account: str, platform: str) -> bool:
        """True when ``platform`` is enabled for ``account`` in upload_config.json."""
        return platform in self.config.platforms_for(account)

    def warn_held(self) -> None:
        """Say once at start which queued posts wait because their platform is turned off."""
        held = Counter(
            (p.account, p.platform)
            for p in self.sv.ledger.list_posts(ACTIVE)
            if not self.enabled(p.account, p.platform)
        )
        for (account, platform), count in sorted(held.items()):
            log.warning(
                "posts_held",
                account=account,
                platform=platform,
                posts=count,
                reason="not enabled in upload_config.json; they post once it is",
            )

    def check_folders(self, *, watched_only: bool = False) -> None:
        """Each folder the daemon needs exists (or is made) and can be used, else StartupError.

        ``ARCHIVE_DIR`` is not checked: an unmounted archive disk only delays archiving.
        """
        s = self.settings
        folder("UPLOAD_FOLDER", s.upload_folder, write=False)
        folder("OUT_ROOT", s.out_root, write=False)
        if not watched_only:
            folder("STATE_DIR", s.state_dir, write=True, private=True)
            folder("TOKENS_DIR", s.tokens_dir, write=True, private=True)

    def build(self) -> Services:
        """Check the folders, take the state-dir and watched-folder locks, wire everything."""
        s = self.settings
        self.check_folders()
        self._lock.acquire()
        try:
            self._folder_locks.acquire()
        except BaseException:
            self._lock.release()
            raise
        self._db = open_ledger(s.state_dir)
        ledger = Ledger(self._db, self.clock)
        plain = Vault(s.tokens_dir, self._fernet_key(), s.sandbox, lambda: self._fernet_key(True))
        check_logins(s, plain, ((a, p) for a in self.config.accounts for p in self.enabled_of(a)))
        vault = RedactingStore(plain, self.redactor)
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(30.0, read=120.0, write=120.0), follow_redirects=False
        )
        providers = self._providers(http, vault)
        bus = Bus()
        archiver = Archiver(ledger, s.archive_dir, s.delete_uploaded_clips)
        policy = RetryPolicy(max_attempts=s.max_attempts)
        media = MediaCheck(s.render_cache_dir or s.state_dir / "renders")  # probe + variants
        intake = Intake(ledger, self.platforms_for, set(REGISTRY), self.clock, prober=media.prober)
        publisher = Publisher(
            ledger,
            providers,
            bus,
            self.clock,
            policy,
            archiver,
            self._options,
            self.enabled,
            whereabouts=intake.where,
            polling=Polling(deadline=s.processing_deadline),
            sleep=self.stopper.pause,
            media=media,
        )
        reconciler = Reconciler(ledger, publisher, archiver, self.clock)
        # Posting slots, pinned times, periodic jobs (pipeline/scheduler.py, docs/scheduling.md).
        self.scheduler = PostScheduler(ledger, publisher, self.config, self.clock, self._native)
        publisher.hold = self.scheduler.holds  # slot lanes wait for their slot
        self.reload_hooks.append(lambda _settings, config: self.scheduler.reload(config))
        watcher = self.make_watcher()
        self.sv = Services(
            ledger, bus, intake, publisher, reconciler, archiver, watcher, providers, http
        )
        refresher = TokenRefresher(
            http,
            lambda: self.config.accounts,
            self.enabled_of,
            ledger,
            bus,
            s.tokens_dir,
            s.token_refresh_margin,
            self.clock,
        )  # refresh ahead of expiry; one ERR per dead login (pipeline/tokens.py)
        self.extra_jobs.setdefault("token_refresh", refresher.run)
        self.scheduler.every("token_refresh", 60.0, refresher.wake)  # wall clock: after a suspend
        # clips.json -> rendered shorts that the watcher then posts (pipeline/manifests.py).
        self.extra_jobs.setdefault(
            "manifests", manifest_job(s, lambda: self.config.accounts, bus, self.problem).run
        )
        # Run-out warnings and failed / needs-attention notices (pipeline/alerts.py, notify.py).
        alerts = make_alerts(
            s, ledger, bus, self.clock, lambda: self.config.accounts, self.redactor
        )
        self.extra_jobs.setdefault("notify", alerts.notifier.run)
        self.extra_jobs.setdefault("alerts", lambda: alerts.run(None))  # forecast at start
        self.scheduler.every("forecast", FORECAST_SECONDS, alerts.tick)  # then hourly
        return self.sv

    def make_watcher(self) -> ClipWatcher:
        """The watcher of the current settings and config (a reload makes a new one)."""
        s = self.settings
        return ClipWatcher(
            upload_folder=s.upload_folder,
            out_root=s.out_root,
            default_account=self.config.default_account,
            on_ready=self.admit,
            on_problem=self.problem,
            clock=self.clock,
            settle_seconds=s.settle_seconds,
            rescan_seconds=s.rescan_seconds,
            fragmented_settle_seconds=s.fragmented_settle_seconds,
        )

    async def start_emulator_if_needed(self) -> None:
        """In sandbox, serve the emulator in-process when nothing listens at SANDBOX_URL."""
        s = self.settings
        if not s.sandbox:
            return
        if listening(s.sandbox_url):
            await is_emulator(s.sandbox_url)  # anything else there gets every request wrong
            return
        from atroposd.emulator import EmulatorServer

        parts = urlsplit(s.sandbox_url)
        self._emulator = EmulatorServer(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 80,
            storage_dir=s.state_dir / "emulator",
        )
        await self._emulator.start()  # it logs emulator_started itself

    def announce(self) -> None:
        """Say loudly where posts go."""
        s = self.settings
        if s.sandbox:
            log.warning(
                "environment",
                environment="sandbox",
                sandbox_url=s.sandbox_url,
                note="SANDBOX: posts go to the local emulator, not to real platforms",
            )
        else:
            log.warning(
                "environment",
                environment="production",
                note="PRODUCTION: posts go to the real platforms",
            )

    async def admit(self, files: ClipFiles) -> None:
        """Plan a ready pair and start its posts; input problems are reported once."""
        if is_manifest_source(files.video):  # cut into shorts, never posted itself (ADR 0014)
            return
        sv = self.sv
        try:
            got = await sv.intake.admit(files)
        except InputError as exc:
            await self.problem(files.video, str(exc))
            return
        except OSError as exc:
            await self.problem(files.video, f"cannot read clip: {exc}")
            return
        if not got.new and not got.rearmed and got.known:
            sv.archiver.seen_again(got.drop, got.known)
        for post in [*got.new, *got.rearmed]:
            if self.wanted(post.account, post.platform):
                sv.publisher.kick(post.id)

    def wanted(self, account: str, platform: str) -> bool:
        """True unless ``upload --once --account/--platform`` narrowed the run."""
        acc, plat = self.only
        return (acc is None or acc == account) and (plat is None or plat == platform)

    async def problem(self, path: Path, reason: str) -> None:
        """Report a file problem once (log + ledger); the file stays where it is."""
        if self.sv.ledger.note_problem(path, reason):
            log.warning("clip_problem", path=str(path), reason=reason, action="left in place")

    async def close(self, sv: Services) -> None:
        """Let what must not be cut finish (a token refresh whose answer may rotate the login,
        an archive move), for a few seconds; then release the client, the emulator, the lock."""
        unfinished = [t for t in asyncio.all_tasks() if t.get_name().startswith(FINISH_ON_STOP)]
        await self.stopper.wait_all(unfinished, SHUTDOWN_GRACE_SECONDS)
        await sv.http.aclose()
        if self._emulator is not None:
            await self._emulator.stop()
        self._folder_locks.release()
        self._lock.release()

    def jobs(self, sv: Services) -> dict[str, Callable[[], Awaitable[None]]]:
        """The long-lived tasks started once the first reconcile pass has run."""
        return {
            "publisher": sv.publisher.run,
            "scheduler": self.scheduler.run,
            "watcher": sv.watcher.run,
            "reconcile": lambda: every(lambda: self.settings.reconcile_seconds, sv.reconciler.step),
            **self.extra_jobs,
        }

    async def _start(self, tg: asyncio.TaskGroup, sv: Services) -> dict[str, asyncio.Task[None]]:
        """Start in stages; READY=1 once the ledger is open (``build``), a reconcile pass has
        run, the start-up scan is done and the watcher is live (none after a stop signal)."""
        self.scheduler.start()  # slot lanes hold their posts before the first sweep
        await sv.reconciler.step()
        tasks = {
            name: tg.create_task(supervise(name, job), name=name)
            for name, job in self.jobs(sv).items()
        }
        tasks["sd-notify"] = tg.create_task(self._heartbeat(sv), name="sd-notify")
        if await self.stopper.until(tasks["watcher"], sv.watcher.started):
            return tasks  # a stop signal during the scan: no READY=1; run() stops at once
        log.info(
            "daemon_started",
            accounts=sorted(self.config.accounts),
            platforms=sorted(sv.providers),
            state_dir=str(self.settings.state_dir),
        )
        self.notifier.ready(self.status_line(sv))
        return tasks

    def status_line(self, sv: Services) -> str:
        """``watching 2 folders, 12 queued, 2 uploading`` (what ``systemctl status`` shows)."""
        live, busy = len(sv.watcher.roots) - len(sv.watcher.unavailable_folders), sv.publisher.busy
        queued = count_posts(self._db, [s.value for s in ACTIVE]) - len(busy)
        return f"watching {live} folders, {max(queued, 0)} queued, {len(busy)} uploading"

    async def _heartbeat(self, sv: Services) -> None:
        """WATCHDOG=1 and STATUS= (``lifecycle.heartbeat``)."""
        n = self.notifier
        if n.enabled:
            with sv.bus.subscribe(PostChanged, maxsize=1) as changed:
                say = lambda: n.status(self.status_line(sv))  # noqa: E731
                await heartbeat(n.ping, say, n.ping_interval, changed.get)

    async def _stop(self, sv: Services, tasks: dict[str, asyncio.Task[None]]) -> None:
        """Stop intake (watcher, sweeps, API), wind the uploads down, then the rest."""
        busy, grace = sorted(sv.publisher.busy), self.settings.shutdown_grace
        self.notifier.stopping(f"stopping: {len(busy)} in flight")
        log.info("daemon_stopping", in_flight=busy, grace_seconds=grace)
        sv.publisher.closing = True  # no new post, no new upload
        keep = ("publisher", "sd-notify")
        self._summary = await self.stopper.stop(tasks, keep, lambda: sv.publisher.workers, grace)

    async def _apply(self, settings: Settings, config: UploadConfig) -> None:
        """Take what can change live; name the settings that need a restart (they stay)."""
        sv = self.sv
        self.settings, changed, fixed = reload.split(self.settings, settings)
        accounts_changed, self.config = config != self.config, config
        for name in self.settings.secrets:
            self.redactor.pin(self.settings.secret(name))
        added = self._providers(*self._wiring, have=sv.providers)
        for name, provider in added.items():
            sv.publisher.add_provider(name, provider)
        sv.providers = {**sv.providers, **added}
        for hook in self.reload_hooks:
            hook(self.settings, self.config)
        if accounts_changed or reload.WATCHER_SETTINGS & set(changed):
            await self._restart_watcher()
        sv.reconciler.sweep()  # posts held for a platform enabled now go out
        if fixed:
            log.warning("reload_restart_needed", settings=[reload.env_name(n) for n in fixed])
        live = [reload.env_name(n) for n in changed if n not in fixed]
        accounts, platforms = sorted(config.accounts), sorted(sv.providers)
        log.info("reload_done", accounts=accounts, platforms=platforms, changed=live)

    async def _restart_watcher(self) -> None:
        """A new watcher (new accounts, tuning): its start-up scan offers every pair again (the
        ledger knows those planned), so clips waiting in a new account's folder are found."""
        old = self._tasks.get("watcher")
        if old is not None:
            old.cancel()
            await asyncio.gather(old, return_exceptions=True)
        self.sv.watcher = self.make_watcher()
        self._tasks["watcher"] = self._tg.create_task(
            supervise("watcher", self.sv.watcher.run), name="watcher"
        )

    async def run(self) -> None:
        """The daemon: start in stages, READY=1, run until SIGTERM/SIGINT, stop in stages."""
        self.announce()
        sv = self.build()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopper.on_signal, sig.name)
        loop.add_signal_handler(signal.SIGHUP, self.reloader.request)
        block_loop_on_sigusr1(loop, self.settings.sandbox, self.notifier.status)
        self._env_at = env_file_values(self.env_file)
        try:
            self.warn_held()
            await self.start_emulator_if_needed()
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                tasks = self._tasks = await self._start(tg, sv)
                self.reloader.started.set()
                await self.stopper.stopping.wait()
                await self._stop(sv, tasks)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await self.close(sv)
            log.info("daemon_stopped", **self._summary)
            self.notifier.close()
