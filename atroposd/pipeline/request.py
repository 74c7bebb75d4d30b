"""Build a provider's ``UploadRequest`` from a planned post: caption -> title/description.

Every platform's text comes from the one caption file through ``atroposd.captions``: the
description by the caption rule (``derive_text``), the title from the caption's first line of
prose (``derive_title`` + ``fit``). A sidecar override (``"x": {"text": …}``, ``"youtube":
{"title": …}``, a shared ``"description"``…) wins and is validated, never cut (``check``). A
text that cannot meet the platform's limits is ``CaptionRejected`` before any request.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, replace

from atroposd.captions import (
    CaptionError,
    Counting,
    TextLimit,
    check,
    derive_text,
    derive_title,
    fit,
)
from atroposd.domain import Post
from atroposd.errors import CaptionRejected
from atroposd.pipeline.intake import PlatformOverride, SidecarModel
from atroposd.providers.base import Capabilities, UploadRequest
from atroposd.store.ledger import Drop

# The sidecar names a platform's text as the platform does (SidecarModel takes all three).
WORDS = {"x": "text", "instagram": "caption", "tiktok": "caption"}


@dataclass(frozen=True)
class Texts:
    """A post's title and description as the platform will receive them."""

    title: str
    description: str


def build_texts(
    caption: str, override: PlatformOverride | None, caps: Capabilities, fallback: str
) -> Texts:
    """Title and description within ``caps``' limits; ``CaptionError`` names what breaks."""
    title = override.title if override and override.title else None
    if title is not None and caps.title is not None:
        title = _checked("title override", title, caps.title)
    elif title is None:
        title = derive_title(caption, fallback)
        if caps.title is not None:
            title = fit(title, caps.title) or fit(fallback, caps.title)
    if override and override.description:
        description = _checked("description override", override.description, caps.description)
    else:
        description = _checked("description", caption, caps.description, derived=True)
    return Texts(title, description)


class TextRejected(CaptionError):
    """``CaptionError`` naming the field, and whether the text was an override."""

    def __init__(self, what: str, exc: CaptionError, *, override: bool) -> None:
        super().__init__(f"{what} {exc}", length=exc.length, limit=exc.limit)
        self.override = override


def _checked(what: str, text: str, limit: TextLimit, *, derived: bool = False) -> str:
    try:
        return derive_text(text, limit) if derived else check(text, limit)
    except CaptionError as exc:
        raise TextRejected(what, exc, override=not derived) from None


def _account_caps(caps: Capabilities, options: Mapping[str, object]) -> Capabilities:
    """``caps`` with an account's own weighted-text limit (``max_weighted_length``: an X
    Premium account's long posts) in place of the platform's default."""
    own = options.get("max_weighted_length")
    if caps.description.counting is not Counting.X_WEIGHTED or not isinstance(own, int):
        return caps
    return replace(caps, description=replace(caps.description, max_length=own))


def _rejected(exc: CaptionError, post: Post, drop: Drop) -> CaptionRejected:
    """The error for the ledger and the ERR line: what broke and how to go on."""
    if isinstance(exc, TextRejected) and exc.override:
        hint = (
            f"overrides are never cut: shorten it in {drop.sidecar_path or 'the sidecar'} "
            f"(read again by `atroposd retry {post.id}`)"
        )
    else:
        word = WORDS.get(post.platform, "description")  # the platform's own name for it
        hint = (
            f"shorten {drop.caption_path} (read again by `atroposd retry {post.id}`), or give "
            f'{post.platform} its own text in the sidecar: {{"{post.platform}": '
            f'{{"{word}": "…"}}}}'
        )
    return CaptionRejected(f"{post.platform} {exc}; {hint}", platform=post.platform)


def build_request(
    post: Post, drop: Drop, size: int, caps: Capabilities, options: Mapping[str, object]
) -> UploadRequest:
    """Title and description within ``caps``' limits, sidecar overrides applied.

    Raises ``CaptionRejected`` (a ``PermanentError``) when they cannot be.
    """
    override = (
        SidecarModel.model_validate_json(drop.sidecar_json).for_platform(post.platform)
        if drop.sidecar_json
        else None
    )
    fallback = drop.video_path.stem.replace("_", " ")
    try:
        texts = build_texts(drop.caption.strip(), override, _account_caps(caps, options), fallback)
    except CaptionError as exc:
        raise _rejected(exc, post, drop) from None
    configured = options.get("tags")
    default_tags = tuple(str(t) for t in configured) if isinstance(configured, list | tuple) else ()
    tags = tuple(override.tags) if override and override.tags else default_tags
    return UploadRequest(
        account=post.account,
        path=drop.video_path,
        size=size,
        sha256=post.clip_sha256,
        title=texts.title,
        description=texts.description,
        tags=tags,
        privacy=override.privacy if override and override.privacy else None,
        publish_at=(override.publish_at if override and override.publish_at else post.publish_at),
        mime_type=mimetypes.guess_type(drop.video_path.name)[0] or "video/mp4",
        options=options,
        identity=drop.identity,
    )
