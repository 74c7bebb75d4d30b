"""Snapchat joins the provider conformance suite.

Parts are 256 KiB here (``SNAPCHAT_PART_BYTES``; production takes Snap's 32 MiB), so the
suite's ~1.2 MB clip goes in five encrypted parts. The publish call (Spotlight) is the
commit; the handle holds the key before the create call (``ref_before_session``).
"""

from __future__ import annotations

from atroposd.providers.base import Credentials
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import CHUNK, Binding, Commit, Rejection

NO_NAME = "type must be VIDEO and name is required."

SNAPCHAT = Binding(
    name="snapchat",
    steps={
        "auth": "token",
        "session": "create",
        "media": "add",
        "query": "status",
        "poll": "status",
        "publish": "publish",
    },
    commit=Commit("publish"),  # the Spotlight POST makes the post
    credentials=lambda account: Credentials("", refresh_token=f"sandbox:{account}:conformance"),
    secrets={
        "SNAPCHAT_CLIENT_ID": "conf-snap-client-id",
        "SNAPCHAT_CLIENT_SECRET": "conf-snap-secret",
    },
    overrides={"SNAPCHAT_PART_BYTES": str(CHUNK)},
    rejection=Rejection(
        body={
            "request_status": "ERROR",
            "request_id": "5007083c-cef7-4638-bea7-1b8a6d5b7281",
            "debug_message": NO_NAME,
            "display_message": NO_NAME,
            "error_code": "INVALID_REQUEST",
        },
        code="INVALID_REQUEST",
        message=NO_NAME,
    ),
    ref_before_session=True,
)


class TestSnapchatConformance(ProviderConformance):
    binding = SNAPCHAT
