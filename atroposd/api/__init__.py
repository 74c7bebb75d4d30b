"""The local API for the desktop client (issue 12): FastAPI app served by uvicorn in ``run``.

``create_app`` is the factory for ``uvicorn --factory atroposd.api:create_app``; ``attach``
adds the server to a daemon's tasks (``App.extra_jobs``) when ``API_ENABLED``.
"""

from __future__ import annotations

from typing import Any

from atroposd.app import App


def attach(app: App) -> None:
    """Serve the API inside ``app``'s run (nothing yet: the API is being built)."""


def create_app() -> Any:
    """The FastAPI application (not built yet)."""
    raise NotImplementedError("the local API is not built yet")
