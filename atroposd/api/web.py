"""The FastAPI application: routers, the token check, CORS (only when configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from atroposd.api import forecast, jobs, library, ops
from atroposd.api.auth import same
from atroposd.api.context import Context
from atroposd.api.limits import BodyLimit
from atroposd.api.models import Problem

_bearer = HTTPBearer(auto_error=False, description="STATE_DIR/api-token, or API_TOKEN")
UNAUTHORIZED = {401: {"model": Problem}}


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless ``Authorization: Bearer <token>`` carries the API token."""
    ctx: Context = request.app.state.ctx
    given = credentials.credentials if credentials is not None else None
    if not same(given, ctx.token):
        raise HTTPException(
            401, "Missing or invalid API token", headers={"WWW-Authenticate": "Bearer"}
        )


def build(ctx: Context) -> FastAPI:
    """The app over ``ctx``; ``/healthz`` is the only route without the token."""
    app = FastAPI(
        title="atroposd local API",
        version="1",
        description=(
            "Jobs (one clip of one account across its platforms), their live progress, the "
            "clip library and the daemon's health, read from the ledger. Every route but "
            "/healthz needs `Authorization: Bearer <token>` (STATE_DIR/api-token or API_TOKEN)."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.registry = ops.registry_for(ctx)
    app.include_router(ops.public)
    app.include_router(jobs.sockets)
    guarded = {"dependencies": [Depends(require_token)], "responses": UNAUTHORIZED}
    app.include_router(ops.router, **guarded)  # type: ignore[arg-type]
    app.include_router(jobs.router, **guarded)  # type: ignore[arg-type]
    app.include_router(library.router, **guarded)  # type: ignore[arg-type]
    app.include_router(forecast.router, **guarded)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit)
    origins = [o.strip() for o in ctx.settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app
