"""The error tree: everything atroposd raises derives from ``AtroposError``.

    AtroposError
    ├── ConfigError              bad .env / upload_config.json (exit code 2)
    ├── InputError               a clip on disk cannot be used (bad caption, truncated video...)
    │   └── SourceChanged        the video was replaced or rewritten after it was planned
    ├── LockedError              another daemon owns the state directory
    ├── StartupError             a folder or SANDBOX_URL cannot work as set up (exit code 2)
    └── ProviderError            anything a platform told us, classified at the HTTP edge
        ├── TransientError       retry the same step later (5xx, network, short throttling)
        │   ├── RateLimited      the platform gave its own wait signal (Retry-After...)
        │   └── Unreachable      no connection at all (offline, DNS): nothing was sent
        ├── AuthExpired          access token rejected: refresh once, then retry
        ├── ReauthRequired       refresh token dead or revoked: park in needs_attention
        ├── QuotaExhausted       daily cap reached: park until ``retry_at``
        ├── SessionLost          the saved upload session is gone: start a new one
        ├── OutcomeUnknown       the commit step may or may not have happened: never retry blind
        └── PermanentError       rejected for good (invalid title, media refused...)
            └── CaptionRejected  a caption/override breaks the platform's text limits (local)

Providers translate httpx and platform errors into this vocabulary in one place
(``providers/_http.py``); the retry policy (``pipeline/retry.py``) decides what happens next.
"""

from __future__ import annotations

from datetime import datetime


class AtroposError(Exception):
    """Base of every error atroposd raises on purpose."""


class ConfigError(AtroposError):
    """A setting or config file is invalid; the message names the file, the key and the fault."""


class InputError(AtroposError):
    """A clip's files cannot be used as they are."""


class SourceChanged(InputError):
    """The video on disk is no longer the file that was planned (replaced or rewritten)."""


class LockedError(AtroposError):
    """Another atroposd process holds the state directory."""


class StartupError(AtroposError):
    """The daemon cannot start as set up; the message names the folder or URL and why."""


class ProviderError(AtroposError):
    """A platform refused or failed a request."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        code: str | int | None = None,
        platform_message: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.code = code
        self.platform_message = platform_message
        self.status = status


class TransientError(ProviderError):
    """Worth retrying the same step after a backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class Unreachable(TransientError):
    """No connection could be made (offline, DNS, refused): nothing reached the platform, so
    being offline for a night never fails a post."""


class RateLimited(TransientError):
    """Throttled; ``retry_after`` carries the platform's own wait when it gave one."""


class AuthExpired(ProviderError):
    """The access token was rejected; refresh once and retry."""


class ReauthRequired(ProviderError):
    """The account must log in again; nothing will work until it does."""


class QuotaExhausted(ProviderError):
    """A daily cap is reached; nothing to do before ``retry_at``."""

    def __init__(self, message: str, *, retry_at: datetime, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_at = retry_at


class SessionLost(ProviderError):
    """A saved upload session no longer exists on the platform; a fresh one is safe."""


class OutcomeUnknown(ProviderError):
    """The platform may have published; a retry could double-post."""


class PermanentError(ProviderError):
    """The platform rejected the post for good."""


class CaptionRejected(PermanentError):
    """A caption, title or sidecar override cannot meet the platform's declared text limits.

    Found locally before any request; the message names the field, the counted length and the
    limit (``captions.CaptionError`` translated by ``pipeline/request.py``).
    """
