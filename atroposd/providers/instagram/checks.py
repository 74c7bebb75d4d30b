"""Instagram's limits checked locally, with zero HTTP requests (providers.md §3.2)."""

from __future__ import annotations

from atroposd.captions import hashtags, mentions
from atroposd.errors import PermanentError
from atroposd.providers.base import UploadRequest
from atroposd.providers.instagram.remote import NAME

MAX_BYTES = 300_000_000  # providers.md §3.2: 300 MB (a newer page says 1 GB): the safe reading
MAX_CAPTION = 2200  # characters; counted in UTF-16 units, the stricter reading
HASHTAGS, MENTIONS = 30, 20


def check_request(request: UploadRequest) -> None:
    """``PermanentError`` in Instagram's own words for what it would refuse."""
    if request.size <= 0:
        raise PermanentError("video is empty", platform=NAME, code="emptyFile")
    if request.size > MAX_BYTES:
        raise PermanentError(
            f"video is {request.size:,} bytes; Instagram Reels take at most 300 MB",
            platform=NAME,
            code="tooLarge",
        )
    caption = request.description
    for count, cap, what in (
        (len(hashtags(caption)), HASHTAGS, "hashtags"),
        (len(mentions(caption)), MENTIONS, "@mentions"),
    ):
        if count > cap:
            words = f"The caption can have at most {cap} {what}."
            raise PermanentError(
                f"caption has {count} {what}: {words}",
                platform=NAME,
                code="100",
                platform_message=words,
            )
    if len(caption.encode("utf-16-le")) // 2 > MAX_CAPTION:
        words = "The caption can be at most 2,200 characters."
        raise PermanentError(
            f"caption too long: {words}", platform=NAME, code="100", platform_message=words
        )
