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

from atroposd.bus import Bus, PostChanged
from atroposd.clock import Clock, SystemClock
from atroposd.config import Settings, UploadConfig, missing_platform_ids, platform_id
from atroposd.domain import ACTIVE, FINISH_ON_STOP, ClipFiles
from atroposd.errors import ConfigError, InputError
from atroposd.keys import check_logins, load_keys
from atroposd.log import Redactor
from atroposd.pipeline.archive import Archiver
from atroposd.pipeline.follow import Polling
from atroposd.pipeline.intake import Intake
from atroposd.pipeline.publisher import Publisher
from atroposd.pipeline.reconcile import Reconciler
from atroposd.pipeline.retry import RetryPolicy
from atroposd.pipeline.tokens import TokenRefresher
from atroposd.pipeline.variants import MediaCheck
from atroposd.preflight import folder, is_emulator, listening, open_ledger
from atroposd.providers import REGISTRY
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


async def supervise(
    name: str, run: Callable[[], Awaitable[None]], first: float = 1.0, most: float = 60.0
) -> None:
    """Run a long-lived task; when it fails, log one line and start it again after a pause.

    A watcher whose folder went away (an unmounted drive) must not take the publisher down
    with it. The pause doubles up to ``most`` and starts over once the task ran for longer
    than that. An OSError is the world, not a bug: no traceback for it.
    """
    wait = first
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            await run()
            return
        except Exception as exc:  # supervisor: log, pause, start the task again
            if loop.time() - started > most:
                wait = first
            fields = {"task": name, "error": f"{type(exc).__name__}: {exc}", "retry_in": wait}
            if isinstance(exc, OSError):
                log.error("task_failed", **fields)
            else:
                log.exception("task_failed", **fields)
        await asyncio.sleep(wait)
        wait = min(wait * 2, most)


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
        self._stopping = asyncio.Event()  # the first SIGTERM/SIGINT
        self._hurry = asyncio.Event()  # the second: cut what is still running
        self._summary: dict[str, object] = {}  # daemon_stopped's fields
        for name in settings.secrets:
            redactor.pin(settings.secret(name))

    def _fernet_key(self) -> str:
        found = load_keys(self.settings)  # several keys, $CREDENTIALS_DIRECTORY (keys.py)
        self.redactor.pin(*found)
        return ",".join(found)

    def _providers(self, http: httpx.AsyncClient, creds: CredentialStore) -> dict[str, Provider]:
        s = self.settings
        wanted = {p for acc in self.config.accounts.values() for p in acc.platforms.enabled()}
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
        )
        return {name: REGISTRY[name](ctx) for name in sorted(wanted) if name in REGISTRY}

    def _options(self, account: str, platform: str) -> Mapping[str, object]:
        acc = self.config.accounts.get(account)
        block = getattr(acc.platforms, platform, None) if acc else None
        return block.model_dump() if block is not None else {}

    def enabled_of(self, account: str) -> list[str]:
        """The platforms enabled for ``account`` (the config read now)."""
        return list(self.config.platforms_for(account))

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
        plain = Vault(s.tokens_dir, self._fernet_key(), s.sandbox)
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
        intake = Intake(
            ledger, self.config.platforms_for, set(REGISTRY), self.clock, prober=media.prober
        )
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
            sleep=self._pause,
            media=media,
        )
        reconciler = Reconciler(ledger, publisher, archiver, self.clock)
        watcher = ClipWatcher(
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
        return self.sv

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
        await self._wait_all(unfinished, SHUTDOWN_GRACE_SECONDS)
        await sv.http.aclose()
        if self._emulator is not None:
            await self._emulator.stop()
        self._folder_locks.release()
        self._lock.release()

    def jobs(self, sv: Services) -> dict[str, Callable[[], Awaitable[None]]]:
        """The long-lived tasks started once the first reconcile pass has run."""
        return {
            "publisher": sv.publisher.run,
            "watcher": sv.watcher.run,
            "reconcile": lambda: self._every(
                lambda: self.settings.reconcile_seconds, sv.reconciler.step
            ),
            **self.extra_jobs,
        }

    async def _every(
        self, seconds: Callable[[], float], step: Callable[[], Awaitable[None]]
    ) -> None:
        """``step`` every ``seconds()`` (read each time: a reload may change it); the first run
        is the start-up's own. A failing pass is logged and the next one tries again."""
        while True:
            await asyncio.sleep(seconds())
            try:
                await step()
            except Exception as exc:  # supervisor: the next pass may well succeed
                log.exception("periodic_step_failed", error=str(exc))

    async def _start(self, tg: asyncio.TaskGroup, sv: Services) -> dict[str, asyncio.Task[None]]:
        """Start in stages; READY=1 once the ledger is open (``build``), a reconcile pass has
        run, the start-up scan is done and the watcher is live."""
        await sv.reconciler.step()
        tasks = {
            name: tg.create_task(supervise(name, job), name=name)
            for name, job in self.jobs(sv).items()
        }
        tasks["sd-notify"] = tg.create_task(self._heartbeat(sv), name="sd-notify")
        watcher = tasks["watcher"]
        while sv.watcher.scans_completed < 1 and not watcher.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # start-up only: the watcher has no event for it
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
        live = len(sv.watcher.roots) - len(sv.watcher.unavailable_folders)
        busy = sv.publisher.busy
        marks = ",".join("?" * len(ACTIVE))
        sql = f"SELECT COUNT(*) FROM posts WHERE state IN ({marks})"
        queued = int(self._db.execute(sql, [s.value for s in ACTIVE]).fetchone()[0]) - len(busy)
        return f"watching {live} folders, {max(queued, 0)} queued, {len(busy)} uploading"

    async def _heartbeat(self, sv: Services) -> None:
        """WATCHDOG=1 from the event loop itself, at half WATCHDOG_USEC (a wedged loop stops
        the pings: systemd restarts it), and STATUS= when a post changed (at most 1/s)."""
        every = self.notifier.ping_interval
        if not self.notifier.enabled:
            return
        with sv.bus.subscribe(PostChanged, maxsize=1) as changed:
            while True:
                self.notifier.ping()
                try:
                    async with asyncio.timeout(every):
                        await changed.get()
                        self.notifier.status(self.status_line(sv))
                        await asyncio.sleep(1.0)
                except TimeoutError:
                    pass

    async def _pause(self, seconds: float) -> None:
        """The wait between a post's status polls; at shutdown it ends the post's task at once
        (between polls a post is at a resumable point: the next start polls again)."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return
        raise asyncio.CancelledError

    def _on_stop_signal(self, name: str) -> None:
        if not self._stopping.is_set():
            self._stopping.set()
            return
        log.warning("daemon_stop_now", signal=name, note="second signal: cutting what still runs")
        self._hurry.set()

    async def _wait_all(self, tasks: Collection[asyncio.Future[Any]], seconds: float) -> set[Any]:
        """Wait until ``tasks`` are done, ``seconds`` passed or a second signal came; the ones
        still pending."""
        pending = set(tasks)
        hurry = asyncio.ensure_future(self._hurry.wait())
        end = asyncio.get_running_loop().time() + seconds
        try:
            while pending and not hurry.done():
                left = end - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | {hurry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            hurry.cancel()
        return pending

    async def _wind_down(self, sv: Services) -> tuple[list[int], list[int]]:
        """Shutdown: no new post or upload; the workers in flight get SHUTDOWN_GRACE_SECONDS
        to finish their step; the rest are cancelled (their saved handles resume at the next
        start). Returns the post ids (finished, cancelled)."""
        sv.publisher.closing = True
        workers = sv.publisher.workers
        pending = await self._wait_all(workers.values(), self.settings.shutdown_grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        cut = sorted(i for i, t in workers.items() if t in pending or t.cancelled())
        return sorted(set(workers) - set(cut)), cut

    async def _stop(self, sv: Services, tasks: dict[str, asyncio.Task[None]]) -> None:
        """Stop intake (watcher, sweeps, API), wind the uploads down, then the rest."""
        self.notifier.stopping(f"stopping: {len(sv.publisher.busy)} in flight")
        log.info(
            "daemon_stopping",
            in_flight=sorted(sv.publisher.busy),
            grace_seconds=self.settings.shutdown_grace,
        )
        started = asyncio.get_running_loop().time()
        for name, task in tasks.items():
            if name not in ("publisher", "sd-notify"):
                task.cancel()
        finished, cancelled = await self._wind_down(sv)
        for task in tasks.values():
            task.cancel()
        self._summary = {
            "finished": finished,
            "cancelled": cancelled,
            "resume_at_start": bool(cancelled),
            "seconds": round(asyncio.get_running_loop().time() - started, 3),
        }

    async def run(self) -> None:
        """The daemon: start in stages, READY=1, run until SIGTERM/SIGINT, stop in stages."""
        self.announce()
        sv = self.build()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig.name)
        try:
            self.warn_held()
            await self.start_emulator_if_needed()
            async with asyncio.TaskGroup() as tg:
                tasks = await self._start(tg, sv)
                await self._stopping.wait()
                await self._stop(sv, tasks)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await self.close(sv)
            log.info("daemon_stopped", **self._summary)
