"""``/api/clips`` (the library, keyset pages) and ``/api/accounts``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from atroposd.api import queries
from atroposd.api.context import Context, ctx_of
from atroposd.api.duration import locate
from atroposd.api.jobs import decode_cursor, encode_cursor
from atroposd.api.models import (
    AccountOut,
    ClipPage,
    PlatformSetting,
    Problem,
    as_json,
    library_clip,
)

router = APIRouter()
CtxDep = Annotated[Context, Depends(ctx_of)]
DEFAULT_ALIAS = "__default__"  # the desktop client's name for the default account


@router.get("/api/clips", response_model=ClipPage, responses={400: {"model": Problem}})
async def clips(
    ctx: CtxDep,
    account_id: Annotated[str, Query(alias="accountId", min_length=1, max_length=128)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    with_total: Annotated[bool, Query(alias="withTotal")] = False,
) -> Response:
    """An account's clips, newest first, each with its platforms' states.

    ``nextCursor`` is opaque and points below the last clip of the page (keyset): clips added
    or removed meanwhile never shift a page, and every page is one index seek.
    ``totalClips`` is counted only when asked (``withTotal=true``): it reads the account's
    whole library (about a second per 100,000 clips), which a page never does.
    """
    account = ctx.upload_config.default_account if account_id == DEFAULT_ALIAS else account_id
    before = decode_cursor(cursor)
    jobs, after = await ctx.reader.run(queries.page, account, before, limit)
    total = await ctx.reader.run(queries.count, account) if with_total else None
    heads = [(j.posts[0]["video_path"], j.posts[0]["clip_rel"]) for j in jobs]
    archive = ctx.settings.archive_dir.absolute()
    found = await ctx.reader.offload(lambda: [locate(v, r, archive) for v, r in heads])
    config = ctx.upload_config
    names = {n: a.display_name or n for n, a in config.accounts.items()}
    page = ClipPage(
        clips=[
            library_clip(j, names.get(j.account, j.account), where, d)
            for j, (where, d) in zip(jobs, found, strict=True)
        ],
        nextCursor=encode_cursor(after) if after is not None else None,
        totalClips=total,
        projects=[],
    )
    return as_json(page)


@router.get("/api/accounts", response_model=list[AccountOut])
async def accounts(ctx: CtxDep) -> list[AccountOut]:
    """The accounts of upload_config.json, their platforms, and their posts still queued."""
    queued = await ctx.reader.run(queries.queued_by_account)
    config = ctx.upload_config
    out = []
    for name, account in sorted(config.accounts.items()):
        enabled = set(config.platforms_for(name))
        blocks = account.platforms.model_dump(exclude_none=True)
        out.append(
            AccountOut(
                id=name,
                displayName=account.display_name or name,
                default=name == config.default_account,
                platforms=[
                    PlatformSetting(platform=p, enabled=p in enabled, active=p in enabled)
                    for p in sorted(set(blocks) | enabled)
                ],
                queued=queued.get(name, 0),
                active=bool(enabled),
                defaultLayoutId=account.layout,
            )
        )
    return out
