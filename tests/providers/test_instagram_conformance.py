"""Instagram joins the provider conformance suite: its publish (``media_publish``) is the commit."""

from __future__ import annotations

from atroposd.providers.base import Credentials
from atroposd.providers.meta import APP_ID, APP_SECRET
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import Binding, Commit, Rejection

INVALID_CAPTION = "The caption contains a word that is not allowed."

INSTAGRAM = Binding(
    name="instagram",
    steps={
        "auth": "token",
        "session": "container",
        "media": "rupload",
        "query": "offset",
        "poll": "status",
        "publish": "publish",
    },
    commit=Commit("publish"),  # media_publish makes the post
    credentials=lambda account: Credentials("", refresh_token=f"sandbox:{account}:conformance"),
    secrets={APP_ID: "conf-meta-app-id", APP_SECRET: "conf-meta-app-secret"},
    rejection=Rejection(
        body={
            "error": {
                "message": "(#100) Invalid parameter",
                "type": "OAuthException",
                "code": 100,
                "error_user_title": "Invalid caption",
                "error_user_msg": INVALID_CAPTION,
                "fbtrace_id": "AbCdEf",
            }
        },
        code="100",
        message=INVALID_CAPTION,
    ),
)


class TestInstagramConformance(ProviderConformance):
    binding = INSTAGRAM
