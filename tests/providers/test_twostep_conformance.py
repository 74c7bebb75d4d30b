"""The tests' two-step platform joins the suite: its upload is not its publish.

It proves the pipeline's publish step (ADR 0001): every scenario posts through the real
``Publisher``, which must poll until the platform says ``ready``, record ``publishing``, publish,
and never publish twice (the emulator makes a second post on a second publish). A provider that
never reaches the publish step fails the suite (``test_twostep_broken.py``).
"""

from __future__ import annotations

import tests.providers.twostep  # noqa: F401 - registers the test-only providers
from atroposd.providers.base import Credentials
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import Binding, Commit, Rejection

EMPTY_TITLE = "The title is empty."

TWOSTEP = Binding(
    name="twostep",
    steps={
        "auth": "token",
        "session": "create",
        "media": "chunk",
        "query": "status",
        "poll": "status",
        "publish": "publish",
    },
    commit=Commit("publish"),  # the publish call makes the post
    credentials=lambda account: Credentials("", refresh_token=f"sandbox:{account}:conformance"),
    rejection=Rejection(
        body={"error": {"code": "invalid_title", "message": EMPTY_TITLE}},
        code="invalid_title",
        message=EMPTY_TITLE,
    ),
)


class TestTwoStepConformance(ProviderConformance):
    binding = TWOSTEP
