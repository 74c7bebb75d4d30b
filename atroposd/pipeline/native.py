"""Natively scheduled posts (ADR 0015): a platform that reports a post done before its
``publish_at`` holds it for that time itself, so the ledger says ``scheduled``, not
``published``; the post is asked about again once the time has passed (``retry_at``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import structlog

from atroposd.domain import Post, PostState

log = structlog.get_logger("atroposd")
CONFIRM_AFTER = timedelta(seconds=60)  # ask the platform this long after the publish time


def settled_state(post: Post, now: datetime) -> tuple[PostState, dict[str, Any]]:
    """``published``, or ``scheduled`` with ``retry_at`` = when to confirm it, for a post the
    platform has accepted while its ``publish_at`` is still ahead."""
    if post.publish_at is not None and post.publish_at > now:
        return PostState.SCHEDULED, {"retry_at": post.publish_at + CONFIRM_AFTER}
    return PostState.PUBLISHED, {"retry_at": None}


def still_scheduled(post: Post, target: PostState) -> bool:
    """True when a scheduled post was asked about before its time: nothing to record."""
    return post.state is PostState.SCHEDULED and target is PostState.SCHEDULED


def log_scheduled(about: Mapping[str, object], post: Post) -> None:
    """One line when the platform holds a post for its time."""
    log.info(
        "SCHEDULED",
        **about,
        remote_id=post.remote_id,
        at=post.publish_at.isoformat() if post.publish_at else None,
        confirm_at=post.retry_at.isoformat() if post.retry_at else None,
    )
