"""``/api/jobs``: enqueue, list, read, retry, cancel; ``/ws/jobs/{id}``: its progress."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Path, Query, WebSocket
from starlette.responses import JSONResponse, Response

from atroposd.api import queries
from atroposd.api.auth import bearer, query_token, same
from atroposd.api.context import Context, ctx_of, ws_ctx
from atroposd.api.enqueue import BadRequest, Conflict, admit, checked_pairs
from atroposd.api.models import (
    ActionOut,
    Enqueued,
    EnqueueOut,
    JobOut,
    JobPage,
    JobRequest,
    JobState,
    Problem,
    as_json,
    job_out,
)
from atroposd.api.planner import Batch, Planner
from atroposd.api.progress import stream_job, stream_renders
from atroposd.bus import PostChanged
from atroposd.domain import ClipFiles, PostState

S = PostState
JobId = Annotated[int, Path(ge=1, le=queries.MAX_ID, description="the job's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem}}
router = APIRouter()
sockets = APIRouter()  # the websocket checks its token itself (header or ?token=)
SCAN_CAP = 2000  # jobs looked at per request when filtering by state (the cursor goes on)
CtxDep = Annotated[Context, Depends(ctx_of)]


def encode_cursor(before: int) -> str:
    """An opaque keyset cursor: the id the next page starts below."""
    raw = json.dumps({"v": 2, "b": before}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor points below; 400 for anything that is not one of ours."""
    if cursor is None:
        return queries.MAX_ID
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        before = data["b"]
        if data.get("v") != 2 or not isinstance(before, int) or not 1 <= before <= queries.MAX_ID:
            raise ValueError(before)
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise HTTPException(400, "Invalid pagination cursor") from None
    return before


async def read_job(ctx: Context, job_id: int) -> queries.Job:
    found = await ctx.reader.run(queries.job, job_id)
    if found is None:
        raise HTTPException(404, "Job not found")
    return found


@router.post(
    "/api/jobs",
    status_code=202,
    response_model=EnqueueOut,
    responses={
        400: {"model": Problem},
        409: {"model": Problem},
        429: {"model": Problem},
        503: {"model": Problem},
    },
)
async def create_job(body: JobRequest, ctx: CtxDep) -> EnqueueOut:
    """Enqueue a clip (or every clip of a project folder) inside the watched folders."""
    app = ctx.daemon()
    try:
        pairs = await checked_pairs(app, body.path, body.account, body.platforms, body.publish_at)
        if len(pairs) > 1 and ctx.planner is not None:
            return queue_folder(ctx.planner, pairs, body)
        planned = [await admit(app, f, body.platforms, body.publish_at) for f in pairs]
    except BadRequest as exc:
        raise HTTPException(400, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    jobs = [Enqueued(job_id=p.job_id, clip=p.clip, new=p.new) for p in planned]
    return EnqueueOut(job_id=jobs[0].job_id, jobs=jobs)


def queue_folder(planner: Planner, pairs: list[ClipFiles], body: JobRequest) -> EnqueueOut:
    """Hand a folder's checked clips to the background planner (429 when it is full)."""
    if not planner.offer(Batch(pairs, body.platforms, body.publish_at)):
        raise HTTPException(
            429,
            "other folders are being planned; try again when their clips show in GET /api/jobs",
            headers={"Retry-After": "30"},
        )
    accounts = sorted({f.account for f in pairs})
    follow = "/api/jobs" + (f"?account={quote(accounts[0])}" if len(accounts) == 1 else "")
    return EnqueueOut(job_id=None, jobs=[], queued=[f.rel for f in pairs], follow=follow)


@router.get("/api/jobs", response_model=JobPage, responses={400: {"model": Problem}})
async def list_jobs(
    ctx: CtxDep,
    state: JobState | None = None,
    account: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Jobs newest first; ``state`` is the job's overall state. Keyset pages (``cursor``)."""
    at, more = decode_cursor(cursor), True
    out: list[JobOut] = []
    scanned = 0
    while more and len(out) < limit and scanned < SCAN_CAP:
        jobs, after = await ctx.reader.run(queries.page, account, at, limit)
        more = after is not None
        for i, found in enumerate(jobs):
            scanned += 1
            at = found.id
            summary = job_out(found)
            if state is None or summary.state == state:
                out.append(summary)
            if len(out) == limit:
                more = more or i < len(jobs) - 1
                break
        else:
            at = after if after is not None else at
    return as_json(JobPage(jobs=out, nextCursor=encode_cursor(at) if more else None))


@router.get("/api/jobs/{job_id}", response_model=JobOut, responses=NOT_FOUND)
async def get_job(job_id: JobId, ctx: CtxDep) -> JobOut:
    """A job's overall state and one entry per platform."""
    return job_out(await read_job(ctx, job_id))


def _changed(ctx: Context, post_ids: list[int]) -> None:
    app = ctx.daemon()
    for post_id in post_ids:
        post = app.sv.ledger.get(post_id)
        if post is not None:
            app.sv.bus.publish(PostChanged(post.id, post.state))


@router.post(
    "/api/jobs/{job_id}/retry",
    response_model=ActionOut,
    responses={**NOT_FOUND, 409: {"model": Problem}, 503: {"model": Problem}},
)
async def retry_job(job_id: JobId, ctx: CtxDep) -> ActionOut:
    """Send the job's failed and needs-attention posts again (as ``atroposd retry``)."""
    app = ctx.daemon()
    found = await read_job(ctx, job_id)
    changed = []
    for row in found.posts:
        done = app.sv.ledger.transition(
            row["id"],
            [S.FAILED, S.NEEDS_ATTENTION],
            S.READY,
            note="retry requested (API)",
            retry_at=None,
            attempts=0,
            attention=None,
        )
        if done is not None:
            changed.append(done.id)
            if app.wanted(done.account, done.platform):
                app.sv.publisher.kick(done.id)
    if not changed:
        raise HTTPException(409, "nothing to retry: no platform failed or needs attention")
    _changed(ctx, changed)
    return ActionOut(job_id=job_id, changed=changed, job=job_out(await read_job(ctx, job_id)))


@router.post(
    "/api/jobs/{job_id}/cancel",
    response_model=ActionOut,
    responses={**NOT_FOUND, 409: {"model": Problem}, 503: {"model": Problem}},
)
async def cancel_job(job_id: JobId, ctx: CtxDep) -> ActionOut:
    """Cancel the job's posts that have not reached the platform (as ``atroposd cancel``)."""
    app = ctx.daemon()
    found = await read_job(ctx, job_id)
    changed = []
    for row in found.posts:
        done = app.sv.ledger.transition(
            row["id"],
            [S.PLANNED, S.RENDERING, S.READY, S.FAILED, S.NEEDS_ATTENTION],
            S.CANCELLED,
            note="cancel requested (API)",
        )
        if done is not None:
            changed.append(done.id)
    if not changed:
        busy = [
            r["platform"]
            for r in found.posts
            if r["state"] in ("uploading", "processing", "publishing")
        ]
        why = (
            f"too late to cancel {', '.join(busy)}: the platform may already have its bytes"
            if busy
            else "nothing to cancel: every platform is finished"
        )
        raise HTTPException(409, why)
    _changed(ctx, changed)
    return ActionOut(job_id=job_id, changed=changed, job=job_out(await read_job(ctx, job_id)))


async def _let_in(websocket: WebSocket) -> Context | None:
    """The context when the socket carries the token (header or ``?token=``), else answer the
    handshake 401 and None."""
    ctx = ws_ctx(websocket)
    given = bearer(websocket.headers.get("authorization")) or query_token(
        websocket.scope.get("query_string", b"")
    )
    if same(given, ctx.token):
        return ctx
    await websocket.send_denial_response(
        JSONResponse(
            {"detail": "Missing or invalid API token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    )
    return None


@sockets.websocket("/ws/renders")
async def render_socket(websocket: WebSocket) -> None:
    """Every render's progress from now on (see ``progress.py``)."""
    ctx = await _let_in(websocket)
    if ctx is None:
        return
    await websocket.accept()
    await stream_renders(ctx, websocket)


@sockets.websocket("/ws/jobs/{job_id}")
async def job_socket(websocket: WebSocket, job_id: str) -> None:
    """The job's history, then its live events (see ``progress.py``)."""
    ctx = await _let_in(websocket)
    if ctx is None:
        return
    await websocket.accept()
    number = int(job_id) if job_id.isdecimal() and len(job_id) < 19 else 0
    if not number or await ctx.reader.run(queries.job, number) is None:
        await websocket.close(1008, "Job not found")
        return
    await stream_job(ctx, websocket, number)
