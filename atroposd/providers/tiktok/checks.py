"""TikTok's local checks: what can be refused before any request (providers.md §5.3)."""

from __future__ import annotations

from atroposd.captions import Counting, TextLimit, measure
from atroposd.errors import PermanentError
from atroposd.providers.base import UploadRequest
from atroposd.providers.tiktok.account import PRIVACY_LEVELS
from atroposd.providers.tiktok.errors import NAME
from atroposd.providers.tiktok.wire import privacy_of

CAPTION = TextLimit(2200, Counting.UTF16_UNITS)  # post_info.title, UTF-16 units (§5.3)
MEDIA_TYPES = ("video/mp4", "video/quicktime", "video/webm")  # PUT Content-Type (§5.2)
# Names some systems' /etc/mime.types give the same containers (.m4v is an MP4 file).
ALIASES = {"video/x-m4v": "video/mp4", "video/x-quicktime": "video/quicktime"}


def media_type(request: UploadRequest) -> str:
    """The ``Content-Type`` TikTok's upload host gets for this clip."""
    return ALIASES.get(request.mime_type, request.mime_type)


def check_request(request: UploadRequest, max_bytes: int) -> None:
    """Raise ``PermanentError`` for a post TikTok would refuse, without a request."""
    if request.size <= 0:
        raise PermanentError("video is empty", platform=NAME, code="empty_file")
    if request.size > max_bytes:
        raise PermanentError("video is larger than 4 GB", platform=NAME, code="too_large")
    if media_type(request) not in MEDIA_TYPES:
        raise PermanentError(
            f"TikTok takes MP4, MOV or WebM, not {request.mime_type}",
            platform=NAME,
            code="unsupported_media_type",
        )
    if measure(request.description, CAPTION.counting) > CAPTION.max_length:
        raise PermanentError(
            "caption is longer than 2,200 UTF-16 units", platform=NAME, code="invalid_params"
        )
    privacy = privacy_of(request)
    if privacy not in PRIVACY_LEVELS:
        raise PermanentError(
            f"privacy {privacy!r} has no TikTok level; TikTok takes public, private or one of "
            f"{', '.join(PRIVACY_LEVELS)} (a sidecar can give TikTok its own: "
            '{"tiktok": {"privacy": "SELF_ONLY"}})',
            platform=NAME,
            code="invalid_privacy",
        )
    # Content sharing guidelines (developers.tiktok.com/doc/content-sharing-guidelines,
    # commercial content disclosure) [MEM]: branded content's visibility cannot be private.
    if request.options.get("brand_content_toggle") and privacy == "SELF_ONLY":
        raise PermanentError(
            "branded content (brand_content_toggle) cannot be posted SELF_ONLY",
            platform=NAME,
            code="invalid_privacy",
        )
