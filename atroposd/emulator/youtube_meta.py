"""YouTube metadata rules, Google's error envelope and the ``video`` resource, for the emulator.

Pure functions: no I/O, no state. ``youtube.py`` does the HTTP.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from atroposd.emulator.wire import Response

TITLE_MAX_CHARS = 100
DESCRIPTION_MAX_BYTES = 5000
TAGS_MAX_CHARS = 500
PRIVACY_VALUES = frozenset({"public", "private", "unlisted"})
CATEGORY_IDS = frozenset(
    {"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27", "28", "29"}
)
KNOWN_PARTS = frozenset(
    {"snippet", "status", "contentDetails", "fileDetails", "liveStreamingDetails", "localizations"}
    | {"player", "processingDetails", "recordingDetails", "statistics", "suggestions"}
    | {"topicDetails", "id"}
)
_FAULT_REASONS = {
    400: ("badRequest", "Bad Request"),
    401: ("authError", "Request had invalid authentication credentials."),
    403: ("quotaExceeded", "The request cannot be completed because you have exceeded your quota."),
    404: ("notFound", "Not Found"),
    429: ("rateLimitExceeded", "Too many requests."),
    500: ("backendError", "Backend Error"),
    502: ("backendError", "Bad Gateway"),
    503: ("backendError", "Service Unavailable"),
    504: ("backendError", "Gateway Timeout"),
}


class MetadataError(Exception):
    """The request metadata broke a YouTube rule; carries the Google ``reason``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def google_error(code: int, reason: str, message: str, domain: str = "youtube.video") -> Response:
    """Google's JSON error envelope."""
    errors = [{"message": message, "domain": domain, "reason": reason}]
    return Response.json(code, {"error": {"code": code, "message": message, "errors": errors}})


def fault_body(code: int) -> object:
    """Default body of an injected ``status`` fault: what Google would plausibly send."""
    reason, message = _FAULT_REASONS.get(code, ("backendError", "Backend Error"))
    domain = "youtube.quota" if reason == "quotaExceeded" else "global"
    errors = [{"message": message, "domain": domain, "reason": reason}]
    return {"error": {"code": code, "message": message, "errors": errors}}


def unauthenticated() -> Response:
    """The 401 Google sends for a missing, expired or revoked access token."""
    message = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential. "
        "See https://developers.google.com/identity/sign-in/web/devconsole-project."
    )
    errors = [
        {
            "message": "Invalid Credentials",
            "domain": "global",
            "reason": "authError",
            "location": "Authorization",
            "locationType": "header",
        }
    ]
    body = {
        "error": {"code": 401, "message": message, "errors": errors, "status": "UNAUTHENTICATED"}
    }
    return Response.json(
        401, body, (("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"'),)
    )


@dataclass(frozen=True)
class VideoMeta:
    """Validated ``snippet`` + ``status`` of a videos.insert request."""

    title: str
    description: str
    tags: tuple[str, ...]
    category_id: str
    privacy: str
    publish_at: str | None
    made_for_kids: bool | None


def _tags_length(tags: list[Any]) -> int:
    # Google counts the separating commas, and the quotes it adds around tags with spaces.
    total = sum(len(t) + (2 if " " in t else 0) for t in tags)
    return total + max(len(tags) - 1, 0)


def _check_snippet(snippet: dict[str, Any]) -> tuple[str, str, tuple[str, ...], str]:
    title = snippet.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MetadataError(
            "invalidTitle", "The request metadata specifies an invalid or empty video title."
        )
    if len(title) > TITLE_MAX_CHARS or "<" in title or ">" in title:
        raise MetadataError(
            "invalidTitle", "The request metadata specifies an invalid video title."
        )
    description = snippet.get("description", "")
    if (
        not isinstance(description, str)
        or "<" in description
        or ">" in description
        or (len(description.encode()) > DESCRIPTION_MAX_BYTES)
    ):
        raise MetadataError(
            "invalidDescription", "The request metadata specifies an invalid video description."
        )
    tags = snippet.get("tags", [])
    if (
        not isinstance(tags, list)
        or not all(isinstance(t, str) for t in tags)
        or (_tags_length(tags) > TAGS_MAX_CHARS)
    ):
        raise MetadataError("invalidTags", "The request metadata specifies invalid video keywords.")
    category = str(snippet.get("categoryId", "22"))
    if category not in CATEGORY_IDS:
        raise MetadataError(
            "invalidCategoryId",
            "The snippet.categoryId property specifies an invalid category ID.",
        )
    return title, description, tuple(tags), category


def _check_status(status: dict[str, Any]) -> tuple[str, str | None, bool | None]:
    privacy = status.get("privacyStatus", "public")
    if privacy not in PRIVACY_VALUES:
        raise MetadataError("invalidVideoMetadata", "The request metadata is invalid.")
    publish_at = status.get("publishAt")
    if publish_at is not None:
        bad = "The request metadata specifies an invalid scheduled publishing time."
        if privacy != "private" or not isinstance(publish_at, str):
            raise MetadataError("invalidPublishAt", bad)
        try:
            datetime.fromisoformat(publish_at.replace("Z", "+00:00"))
        except ValueError:
            raise MetadataError("invalidPublishAt", bad) from None
    kids = status.get("selfDeclaredMadeForKids")
    if kids is not None and not isinstance(kids, bool):
        raise MetadataError("invalidVideoMetadata", "The request metadata is invalid.")
    return str(privacy), publish_at, kids


def parse_metadata(raw: bytes) -> VideoMeta:
    """Validate a videos.insert JSON body like YouTube does; raises ``MetadataError``."""
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise MetadataError("parseError", "Parse Error") from None
    if not isinstance(doc, dict):
        raise MetadataError("parseError", "Parse Error")
    snippet = doc.get("snippet")
    if not isinstance(snippet, dict):
        raise MetadataError(
            "invalidTitle", "The request metadata specifies an invalid or empty video title."
        )
    status = doc.get("status", {})
    if not isinstance(status, dict):
        raise MetadataError("invalidVideoMetadata", "The request metadata is invalid.")
    title, description, tags, category = _check_snippet(snippet)
    privacy, publish_at, kids = _check_status(status)
    return VideoMeta(title, description, tags, category, privacy, publish_at, kids)


def video_resource(
    video_id: str, meta: VideoMeta, account: str, published_at: str, parts: frozenset[str]
) -> dict[str, object]:
    """The ``youtube#video`` resource videos.insert returns, limited to ``parts``."""
    resource: dict[str, object] = {
        "kind": "youtube#video",
        "etag": f"emu-{video_id}",
        "id": video_id,
    }
    if "snippet" in parts:
        snippet: dict[str, object] = {
            "publishedAt": published_at,
            "channelId": f"UC{account}",
            "title": meta.title,
            "description": meta.description,
            "channelTitle": account,
            "categoryId": meta.category_id,
            "liveBroadcastContent": "none",
            "localized": {"title": meta.title, "description": meta.description},
        }
        if meta.tags:
            snippet["tags"] = list(meta.tags)
        resource["snippet"] = snippet
    if "status" in parts:
        resource["status"] = status_part(meta, "uploaded")
    return resource


def _public_by_now(publish_at: str | None) -> bool:
    """A scheduled video's time has come: YouTube has made it public (and drops publishAt)."""
    if publish_at is None:
        return False
    return datetime.fromisoformat(publish_at.replace("Z", "+00:00")) <= datetime.now(UTC)


def status_part(meta: VideoMeta, upload_status: str) -> dict[str, object]:
    """The ``status`` part of a video (a scheduled one reads public from its publishAt on)."""
    public = _public_by_now(meta.publish_at)
    status: dict[str, object] = {
        "uploadStatus": upload_status,
        "privacyStatus": "public" if public else meta.privacy,
        "license": "youtube",
        "embeddable": True,
        "publicStatsViewable": True,
    }
    if meta.publish_at is not None and not public:
        status["publishAt"] = meta.publish_at
    if meta.made_for_kids is not None:
        status["selfDeclaredMadeForKids"] = meta.made_for_kids
        status["madeForKids"] = meta.made_for_kids
    return status
