"""Build a provider's ``UploadRequest`` from a planned post: caption -> title/description."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping

from atroposd.captions import derive_title, fit, fit_keeping_hashtags
from atroposd.domain import Post
from atroposd.pipeline.intake import SidecarModel
from atroposd.providers.base import Capabilities, UploadRequest
from atroposd.store.ledger import Drop


def build_request(
    post: Post, drop: Drop, size: int, caps: Capabilities, options: Mapping[str, object]
) -> UploadRequest:
    """Title and description within ``caps``' limits, sidecar overrides applied."""
    override = (
        SidecarModel.model_validate_json(drop.sidecar_json).for_platform(post.platform)
        if drop.sidecar_json
        else None
    )
    caption = drop.caption.strip()
    description = override.description if override and override.description else caption
    title = (
        override.title
        if override and override.title
        else derive_title(caption, drop.video_path.stem.replace("_", " "))
    )
    if caps.title is not None:
        title = fit(title, caps.title)
    configured = options.get("tags")
    default_tags = tuple(str(t) for t in configured) if isinstance(configured, list | tuple) else ()
    tags = tuple(override.tags) if override and override.tags else default_tags
    return UploadRequest(
        account=post.account,
        path=drop.video_path,
        size=size,
        sha256=post.clip_sha256,
        title=title,
        description=fit_keeping_hashtags(description, caps.description),
        tags=tags,
        privacy=override.privacy if override and override.privacy else None,
        publish_at=(override.publish_at if override and override.publish_at else post.publish_at),
        mime_type=mimetypes.guess_type(drop.video_path.name)[0] or "video/mp4",
        options=options,
        identity=drop.identity,
    )
