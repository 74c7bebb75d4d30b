"""Facebook Page Reels joins the provider conformance suite: ``finish`` is its commit."""

from __future__ import annotations

from atroposd.providers.base import Credentials
from atroposd.providers.meta import APP_ID, APP_SECRET
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import Binding, Commit, Rejection

INVALID = "(#100) Invalid parameter"
USER_MSG = "The reel's description contains content that is not allowed."

FACEBOOK = Binding(
    name="facebook",
    steps={
        "auth": "token",
        "session": "start",
        "media": "rupload",
        "query": "status",
        "poll": "status",
        "publish": "finish",
    },
    commit=Commit("finish"),  # upload_phase=finish makes the post
    credentials=lambda account: Credentials("", refresh_token=f"sandbox:{account}:conformance"),
    secrets={APP_ID: "conf-meta-app-id", APP_SECRET: "conf-meta-app-secret"},
    rejection=Rejection(
        body={
            "error": {
                "message": INVALID,
                "type": "OAuthException",
                "code": 100,
                "error_subcode": 1363042,
                "error_user_title": "Not allowed",
                "error_user_msg": USER_MSG,
                "fbtrace_id": "AbCdEf123",
            }
        },
        code="100/1363042",
        message=USER_MSG,
    ),
)


class TestFacebookConformance(ProviderConformance):
    binding = FACEBOOK
