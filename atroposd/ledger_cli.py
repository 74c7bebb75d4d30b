"""``posts``, ``retry``, ``cancel`` and ``resolve``: read and nudge the ledger from the command
line."""

from __future__ import annotations

import argparse
import json
import sys

from atroposd.clock import SystemClock
from atroposd.config import Settings
from atroposd.domain import Post, PostState
from atroposd.preflight import folder, open_ledger
from atroposd.store.ledger import Ledger

S = PostState
MAX_ID = 2**63 - 1  # the largest SQLite INTEGER


def ledger_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run one ledger command; 0 on success, 1 when the post cannot change."""
    folder("STATE_DIR", settings.state_dir, write=True, private=True)
    ledger = Ledger(open_ledger(settings.state_dir), SystemClock())
    if args.command == "posts":
        states = [S(args.state)] if args.state else None
        posts = ledger.list_posts(states)
        if args.json:
            rows = [
                {
                    "id": p.id,
                    "account": p.account,
                    "platform": p.platform,
                    "state": p.state.value,
                    "attempts": p.attempts,
                    "clip": ledger.drop_of(p.id).clip_rel,
                    "sha256": p.clip_sha256,
                    "remote_id": p.remote_id,
                    "url": p.url,
                    "last_error": p.last_error,
                    "retry_at": p.retry_at.isoformat() if p.retry_at else None,
                }
                for p in posts
            ]
            print(json.dumps(rows, indent=2, ensure_ascii=False))
        else:
            for p in posts:
                print(
                    f"{p.id:>6}  {p.state.value:<16} {p.account:<16} {p.platform:<10} "
                    f"{ledger.drop_of(p.id).clip_rel}  {p.url or p.last_error or ''}"
                )
        return 0
    post = ledger.get(args.post_id) if 0 < args.post_id <= MAX_ID else None
    if post is None:
        print(f"atroposd: no post with id {args.post_id}", file=sys.stderr)
        return 1
    if args.command == "resolve":
        done = _resolve(ledger, post.id, args.posted, args.not_posted)
    elif args.command == "retry":
        # Every state keeps its saved handle (session, video id): bytes may have reached the
        # platform before it gave up, and the handle is how the publisher asks it what
        # became of them before anything is sent again.
        done = ledger.transition(
            post.id,
            [S.FAILED, S.NEEDS_ATTENTION, S.CANCELLED],
            S.READY,
            note="retry requested",
            retry_at=None,
            attempts=0,
            attention=None,
        )
    else:
        done = ledger.transition(
            post.id,
            [S.PLANNED, S.RENDERING, S.READY, S.FAILED, S.NEEDS_ATTENTION],
            S.CANCELLED,
            note="cancel requested",
        )
    if done is None:
        print(
            f"atroposd: post {post.id} is {post.state.value}; {_why_not(args.command, post)}",
            file=sys.stderr,
        )
        return 1
    print(f"post {post.id}: {post.state.value} -> {done.state.value}")
    return 0


def _why_not(command: str, post: Post) -> str:
    """Why ``command`` cannot change the post, and what the user can do instead."""
    if command == "cancel" and post.state is S.SCHEDULED:
        when = post.publish_at.isoformat() if post.publish_at else "its time"
        return f"the platform holds it and publishes it at {when}: delete it on the platform"
    if command == "cancel" and post.state in (S.UPLOADING, S.PROCESSING, S.PUBLISHING):
        return (
            "too late to cancel: the platform may already have its bytes; once it is "
            "published, delete it on the platform"
        )
    return f"cannot {command} it"


def _resolve(ledger: Ledger, post_id: int, posted: str | None, not_posted: bool) -> Post | None:
    """A human checked the platform: record the post it found, or start over from scratch.

    The way out of ``needs_attention`` when the outcome is unknown (a lost answer to the last
    chunk or the publish call): ``retry`` would only ask the platform again.
    """
    if not_posted:
        return ledger.transition(
            post_id,
            [S.NEEDS_ATTENTION, S.FAILED],
            S.READY,
            note="resolved by hand: not on the platform; uploading again",
            remote_ref=None,
            remote_id=None,
            url=None,
            bytes_sent=0,
            attempts=0,
            retry_at=None,
            attention=None,
            publish_accepted_at=None,
        )
    value = (posted or "").strip()
    is_url = value.startswith(("http://", "https://"))
    return ledger.transition(
        post_id,
        [S.NEEDS_ATTENTION],
        S.PUBLISHED,
        note="resolved by hand: found on the platform",
        remote_id=value.rstrip("/").rsplit("/", 1)[-1] if is_url else value,
        url=value if is_url else None,
        retry_at=None,
        attention=None,
        last_error=None,
    )
