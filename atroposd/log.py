"""structlog set-up: JSON lines off a TTY, a console format on one, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|api_key|fernet)", re.I)
_URL_SECRETS = re.compile(
    r"((?:access_token|refresh_token|client_secret|code|upload_id|key)=)[^&\s\"']+", re.I
)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


class Redactor:
    """A structlog processor that removes known secret values and secret-looking fields."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, *values: str | None) -> None:
        """Register secret values that must never be printed (short ones are ignored)."""
        self._values.update(v for v in values if v and len(v) >= 6)

    def scrub(self, text: str) -> str:
        """``text`` with every registered secret and bearer/query token replaced."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        text = _BEARER.sub(r"\1" + REDACTED, text)
        return _URL_SECRETS.sub(r"\1" + REDACTED, text)

    def _clean(self, key: str, value: Any) -> Any:
        if isinstance(value, str):
            if _SECRET_KEYS.search(key) and value:
                return REDACTED
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict


def configure(
    redactor: Redactor,
    stream: TextIO | None = None,
    json_lines: bool | None = None,
    level: int = logging.INFO,
) -> None:
    """Route structlog (and stdlib logging) to ``stream`` as JSON or console lines."""
    out = stream or sys.stdout
    if json_lines is None:
        json_lines = not out.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.processors.format_exc_info,
            redactor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # httpx logs full URLs (query-string tokens included) at INFO: keep it quiet.
    for name in ("httpx", "httpcore", "apscheduler", "watchdog", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
