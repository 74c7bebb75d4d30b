"""``/api/inventory`` and ``/api/schedule``: the same data as ``atroposd inventory --json`` and
``atroposd schedule --json`` (``schedule/forecast.py`` over ``store/queue.py``'s read of the
ledger), on the API's read-only connection in a worker thread."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from atroposd.api.context import Context, ctx_of
from atroposd.api.models import Problem
from atroposd.clock import SystemClock
from atroposd.config import UploadConfig
from atroposd.schedule.forecast import (
    forecast,
    inventory_json,
    lanes_of,
    upcoming,
    upcoming_json,
)
from atroposd.store.queue import queued_posts

router = APIRouter()
CtxDep = Annotated[Context, Depends(ctx_of)]
AccountQ = Annotated[str | None, Query(max_length=128, description="only this account")]


class InventoryRow(BaseModel):
    """One lane of ``inventory --json``."""

    account: str
    platform: str
    mode: str
    queued: int
    posts_per_week: int | None
    runs_out_at: str | None
    days_left: float | None
    binding_limit: str | None


class UpcomingPost(BaseModel):
    """One post of ``schedule --json``."""

    at: str
    account: str
    platform: str
    clip: str
    post_id: int


def _inventory(conn: sqlite3.Connection, config: UploadConfig, now: datetime) -> list[Any]:
    rows = forecast(lanes_of(config.accounts), queued_posts(conn, now), now)
    return [inventory_json(f) for f in rows]


def _schedule(
    conn: sqlite3.Connection, config: UploadConfig, now: datetime, until: datetime
) -> list[Any]:
    rows = upcoming(lanes_of(config.accounts), queued_posts(conn, now), now, until)
    return [upcoming_json(u) for u in rows]


def _only(ctx: Context, account: str | None) -> None:
    if account is not None and account not in ctx.upload_config.accounts:
        raise HTTPException(404, f"account {account!r} is not in upload_config.json")


@router.get(
    "/api/inventory", response_model=list[InventoryRow], responses={404: {"model": Problem}}
)
async def inventory(ctx: CtxDep, account: AccountQ = None) -> list[Any]:
    """Clips queued per account and platform, and when each runs out (``inventory --json``)."""
    _only(ctx, account)
    now = SystemClock().now()
    rows = await ctx.reader.run(_inventory, ctx.upload_config, now)
    return [r for r in rows if account is None or r["account"] == account]


@router.get("/api/schedule", response_model=list[UpcomingPost], responses={404: {"model": Problem}})
async def schedule(
    ctx: CtxDep,
    account: AccountQ = None,
    days: Annotated[float, Query(gt=0, le=3660, description="how far ahead")] = 7.0,
) -> list[Any]:
    """The upcoming posts in time order (``schedule --json``)."""
    _only(ctx, account)
    now = SystemClock().now()
    rows = await ctx.reader.run(_schedule, ctx.upload_config, now, now + timedelta(days=days))
    return [r for r in rows if account is None or r["account"] == account]
