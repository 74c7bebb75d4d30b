"""``/healthz`` (alive, no token), ``/readyz``, ``/metrics`` and ``/openapi.json``."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from atroposd.api.context import Context, ctx_of
from atroposd.api.metrics import LedgerCollector, watcher_figures
from atroposd.api.models import Health, Ready

public = APIRouter()
router = APIRouter()
CtxDep = Annotated[Context, Depends(ctx_of)]
# The daemon's supervised tasks by name (App.jobs): the scheduler check wants every one that
# moves posts along (the publisher, the posting-slot scheduler, the reconcile sweep).
DAEMON_TASKS = {"watcher": ("watcher",), "scheduler": ("publisher", "scheduler", "reconcile")}


@public.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers (no token needed)."""
    return Health(status="ok")


def _ledger_ok(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM posts LIMIT 1").fetchall() is not None


def _alive(names: tuple[str, ...]) -> bool:
    """True when the daemon's supervised tasks of these names are running."""
    running = {t.get_name() for t in asyncio.all_tasks() if not t.done()}
    return all(name in running for name in names)


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
async def readyz(ctx: CtxDep) -> Any:
    """Ledger readable; inside the daemon also the watcher (after its first scan) and the
    publisher, the slot scheduler and the reconcile sweep running. 503 with the failing
    checks otherwise."""
    checks: dict[str, bool] = {}
    try:
        checks["ledger"] = await ctx.reader.run(_ledger_ok)
    except sqlite3.Error:
        checks["ledger"] = False
    if ctx.app is not None:
        watcher = ctx.app.sv.watcher
        checks["watcher"] = _alive(DAEMON_TASKS["watcher"]) and watcher.scans_completed > 0
        checks["scheduler"] = _alive(DAEMON_TASKS["scheduler"])
    ready = all(checks.values())
    body = Ready(ready=ready, checks=checks)
    return body if ready else JSONResponse(body.model_dump(), status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics(request: Request, ctx: CtxDep) -> Response:
    """Prometheus text format, read from the ledger at scrape time."""
    registry: CollectorRegistry = request.app.state.registry
    ctx.watcher_figures = watcher_figures(ctx)
    body = await ctx.reader.offload(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request) -> JSONResponse:
    """This API's OpenAPI document (as committed in docs/openapi.json)."""
    return JSONResponse(request.app.openapi())


def registry_for(ctx: Context) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LedgerCollector(ctx))
    return registry
