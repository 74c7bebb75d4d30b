"""TikTok Content Posting API v2 payloads: endpoints, creator info, init body, status answers.

Pure functions over data (providers.md §5.2); ``provider.py`` does the HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atroposd.errors import PermanentError
from atroposd.providers.base import RemotePhase, RemoteRef, RemoteStatus, UploadRequest
from atroposd.providers.tiktok.errors import NAME

PUBLISH = "tiktok_publish"  # ref kind: publish_id + upload_url (+ size, chunk_size, expiry)
FINAL_SENT = "final_chunk_sent"  # in a ref: the request that completes the upload went out
# status/fetch codes for a publish_id TikTok does not know (§5.5): nothing can be published
NOT_FOUND_CODES = frozenset({"invalid_publish_id", "publish_id_not_found"})
PROCESSING = frozenset({"PROCESSING_UPLOAD", "PROCESSING_DOWNLOAD"})
DONE = frozenset({"PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"})


@dataclass(frozen=True)
class TikTokEndpoints:
    """The token URL and the API base (``.../v2``); settings, so any compatible server fits."""

    token_url: str
    api_base: str

    @classmethod
    def production(cls) -> TikTokEndpoints:
        """TikTok's real host (every v2 path ends with a slash)."""
        return cls("https://open.tiktokapis.com/v2/oauth/token/", "https://open.tiktokapis.com/v2")

    @classmethod
    def sandbox(cls, base: str) -> TikTokEndpoints:
        """The real paths under ``<base>/tiktok``."""
        root = f"{base.rstrip('/')}/tiktok/v2"
        return cls(f"{root}/oauth/token/", root)

    def url(self, path: str) -> str:
        """``post/publish/video/init/`` -> the absolute URL."""
        return f"{self.api_base.rstrip('/')}/{path}"


@dataclass(frozen=True)
class CreatorInfo:
    """What ``creator_info/query`` allows for this creator right now."""

    username: str
    privacy_options: tuple[str, ...]
    comment_disabled: bool
    duet_disabled: bool
    stitch_disabled: bool
    max_duration_s: int | None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> CreatorInfo:
        """From the ``data`` object of the answer."""
        options = data.get("privacy_level_options")
        duration = data.get("max_video_post_duration_sec")
        return cls(
            username=str(data.get("creator_username") or ""),
            privacy_options=tuple(str(o) for o in options) if isinstance(options, list) else (),
            comment_disabled=bool(data.get("comment_disabled")),
            duet_disabled=bool(data.get("duet_disabled")),
            stitch_disabled=bool(data.get("stitch_disabled")),
            max_duration_s=duration if isinstance(duration, int) else None,
        )


# A sidecar's privacy is shared by every platform: the words with an exact TikTok level.
SHARED_PRIVACY = {"public": "PUBLIC_TO_EVERYONE", "private": "SELF_ONLY"}


def privacy_of(request: UploadRequest) -> str:
    """The privacy level asked for: the sidecar's (a TikTok level, or ``public``/``private``),
    else the account's choice. Another sidecar word is returned as it is, for ``checks.py``
    to refuse: it is never silently replaced by the account's level."""
    if request.privacy:
        return SHARED_PRIVACY.get(request.privacy, request.privacy)
    return str(request.options.get("privacy") or "PUBLIC_TO_EVERYONE")


def post_info(request: UploadRequest, creator: CreatorInfo) -> dict[str, Any]:
    """``post_info`` within what the creator allows, or ``PermanentError`` before any upload.

    Only privacy levels ``creator_info`` returned may be used; an interaction the creator has
    turned off stays off (content-sharing guidelines, providers.md §5.2).
    """
    privacy = privacy_of(request)
    if privacy not in creator.privacy_options:
        allowed = ", ".join(creator.privacy_options) or "none"
        where = (
            "the clip's sidecar privacy"
            if request.privacy
            else f"accounts.{request.account}.platforms.tiktok.privacy"
        )
        raise PermanentError(
            f"privacy {privacy} is not allowed for this TikTok account right now; "
            f"creator_info allows: {allowed} (set {where} to one of them)",
            platform=NAME,
            code="privacy_level_option_mismatch",
        )
    opts = request.options
    info: dict[str, Any] = {
        "title": request.description,
        "privacy_level": privacy,
        "disable_comment": bool(opts.get("disable_comment")) or creator.comment_disabled,
        "disable_duet": bool(opts.get("disable_duet")) or creator.duet_disabled,
        "disable_stitch": bool(opts.get("disable_stitch")) or creator.stitch_disabled,
        "brand_content_toggle": bool(opts.get("brand_content_toggle")),
        "brand_organic_toggle": bool(opts.get("brand_organic_toggle")),
        "is_aigc": bool(opts.get("is_aigc")),
    }
    cover = opts.get("video_cover_timestamp_ms")
    if isinstance(cover, int):
        info["video_cover_timestamp_ms"] = cover
    return info


def post_ids(data: Mapping[str, Any]) -> list[str]:
    """``publicaly_available_post_id`` (sic): a list, though clients have seen a string."""
    raw = data.get("publicaly_available_post_id")
    if isinstance(raw, list):
        return [str(x) for x in raw if x]
    return [str(raw)] if raw else []


def status_of(data: Mapping[str, Any], ref: RemoteRef) -> RemoteStatus:
    """A ``status/fetch`` answer as a ``RemoteStatus`` of the saved publish."""
    publish_id = ref.data["publish_id"]
    state = str(data.get("status") or "")
    if state in DONE:
        ids = post_ids(data)
        post_id = ids[0] if ids else publish_id  # SELF_ONLY posts complete without an id
        user = ref.data.get("username")
        url = f"https://www.tiktok.com/@{user}/video/{ids[0]}" if ids and user else None
        return RemoteStatus(RemotePhase.PUBLISHED, remote_id=post_id, url=url)
    if state == "FAILED":
        reason = str(data.get("fail_reason") or "unknown")
        return RemoteStatus(RemotePhase.FAILED, remote_id=publish_id, reason=f"failed: {reason}")
    size = int(ref.data["size"])
    raw = data.get("uploaded_bytes")
    if isinstance(raw, int) and not isinstance(raw, bool):
        held = raw
    else:  # not reported: only the final chunk's fate says whether all bytes went
        held = size if ref.data.get(FINAL_SENT) else 0
    if state in PROCESSING and held >= size:
        return RemoteStatus(RemotePhase.PROCESSING, offset=size, remote_id=publish_id)
    return RemoteStatus(RemotePhase.UPLOADING, offset=max(0, held), remote_id=publish_id)
