"""YouTube joins the provider conformance suite."""

from __future__ import annotations

from atroposd.providers.base import Credentials
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import Binding, Commit, Rejection, media_requests

INVALID_TITLE = "The request metadata specifies an invalid or empty video title."

YOUTUBE = Binding(
    name="youtube",
    steps={
        "auth": "token",
        "session": "create",
        "media": "chunk",
        "query": "status",
        "poll": "list",
    },
    commit=Commit("chunk", nth=media_requests),  # the final chunk completes the upload
    credentials=lambda account: Credentials("", refresh_token=f"sandbox:{account}:conformance"),
    secrets={"YOUTUBE_CLIENT_ID": "conf-yt-client-id", "YOUTUBE_CLIENT_SECRET": "conf-yt-secret"},
    rejection=Rejection(
        body={
            "error": {
                "code": 400,
                "message": INVALID_TITLE,
                "errors": [
                    {"message": INVALID_TITLE, "domain": "youtube.video", "reason": "invalidTitle"}
                ],
            }
        },
        code="invalidTitle",
        message=INVALID_TITLE,
    ),
)


class TestYouTubeConformance(ProviderConformance):
    binding = YOUTUBE
