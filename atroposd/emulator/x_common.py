"""X's answer shapes for the emulator: problem JSON, user ids, rate-limit windows.

Error bodies follow X API v2 (providers.md §7.6): ``application/problem+json`` objects with
``type``, ``title``, ``detail`` and ``status``. The typed problems (``invalid-request``,
``resource-not-found``) carry the fields the OpenAPI description requires of them; the
generic ones (401, 403 duplicate, 429) use ``about:blank`` or the documented
``rate-limit-exceeded`` type, which the OpenAPI description does not list.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from atroposd.emulator.wire import Response

PROBLEMS = "https://api.x.com/2/problems/"
PROBLEM_JSON = ("Content-Type", "application/problem+json")
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
WINDOW = 15 * 60  # X's rate-limit window
DAY = 24 * 3600

# Per user per 15 minutes (providers.md §7.5, X's rate-limits page).
LIMITS = {
    "init": 1875,
    "append": 1875,
    "finalize": 1875,
    "status": 1000,
    "tweet": 100,
    "timeline": 900,
    "me": 75,
}
APP_TWEETS_PER_DAY = 10_000


def problem(
    status: int, title: str, detail: str, kind: str = "about:blank", **extra: str
) -> Response:
    """A problem+json answer (``kind``: a name under /2/problems/ or ``about:blank``)."""
    type_uri = kind if kind == "about:blank" else PROBLEMS + kind
    body: dict[str, object] = {"title": title, "detail": detail, "type": type_uri, "status": status}
    body.update(extra)
    return Response(status, json.dumps(body).encode(), (PROBLEM_JSON,))


def invalid(detail: str, parameter: str | None = None) -> Response:
    """400 ``invalid-request``."""
    extra = {"parameter": parameter} if parameter else {}
    return problem(400, "Invalid Request", detail, "invalid-request", **extra)


def not_found(detail: str, resource_type: str, resource_id: str) -> Response:
    """404 ``resource-not-found`` (its required ``resource_type``)."""
    return problem(
        404,
        "Not Found Error",
        detail,
        "resource-not-found",
        resource_type=resource_type,
        resource_id=resource_id,
        parameter="id",
        value=resource_id,
    )


def unauthorized() -> Response:
    """X's 401 for a missing, expired or badly signed credential."""
    return problem(401, "Unauthorized", "Unauthorized")


def fault_body(code: int) -> object:
    """Default body of an injected ``status`` fault: what X would plausibly send."""
    if code == 429:
        return {
            "title": "Too Many Requests",
            "detail": "Too Many Requests",
            "type": PROBLEMS + "rate-limit-exceeded",
            "status": 429,
        }
    if code == 401:
        return {
            "title": "Unauthorized",
            "type": "about:blank",
            "status": 401,
            "detail": "Unauthorized",
        }
    if code >= 500:
        return {
            "title": "Service Unavailable",
            "detail": "Service Unavailable",
            "type": "about:blank",
            "status": code,
        }
    return {
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
        "status": code,
    }


def user_id(account: str) -> str:
    """The sandbox account's numeric X user id (stable for a name)."""
    digest = hashlib.sha256(f"x-user:{account}".encode()).digest()
    return str(10**17 + int.from_bytes(digest[:8], "big") % (9 * 10**17))


@dataclass
class Window:
    """One rate-limit window: ``limit`` requests until ``reset`` (unix seconds)."""

    limit: int
    span: int
    used: int = 0
    reset: int = 0

    def take(self, now: float) -> bool:
        """Count one request; False when the window is used up (nothing counted)."""
        if now >= self.reset:
            self.used, self.reset = 0, int(now) + self.span
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def headers(self, prefix: str = "x-rate-limit") -> tuple[tuple[str, str], ...]:
        """``x-rate-limit-limit/-remaining/-reset`` of this window."""
        return (
            (f"{prefix}-limit", str(self.limit)),
            (f"{prefix}-remaining", str(max(0, self.limit - self.used))),
            (f"{prefix}-reset", str(self.reset)),
        )
