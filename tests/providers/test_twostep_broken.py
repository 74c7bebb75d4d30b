"""The suite catches a provider whose publish step the pipeline never reaches.

``twostep_broken`` is the two-step provider declaring ``publish_step=False``: it uploads fine,
but the media then waits on the platform, ready and unpublished. Run against the same emulator,
the suite's posting scenarios must fail, not pass quietly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.providers.conformance import Conform, ProviderConformance
from tests.providers.harness import make_request, run
from tests.providers.test_twostep_conformance import TWOSTEP
from tests.support import Emulator

BROKEN = replace(TWOSTEP, registry_key="twostep_broken", publish_deadline_s=2.0)
POSTING = [
    "test_publisher_posts_exactly_one_post_as_requested",
    "test_lost_answer_to_the_commit_never_posts_twice",
    "test_process_gone_after_the_commit_never_posts_twice",
    "test_resuming_a_finished_upload_never_posts_twice",
]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return BROKEN.make_media(tmp_path_factory.mktemp("broken") / "clip.mp4")


@pytest.mark.parametrize("scenario", POSTING)
def test_a_provider_that_never_publishes_fails_the_suite(
    scenario: str, emulator: Emulator, media: Path
) -> None:
    conform: Conform = lambda body: run(BROKEN, emulator, make_request(media), body)  # noqa: E731
    suite = type("BrokenSuite", (ProviderConformance,), {"binding": BROKEN})()
    # It fails because the post never gets past the platform's "ready": it waits for a human
    # (stuck) or the commit (the publish call) is never reached; not for any other reason.
    with pytest.raises(AssertionError, match=r"NEEDS_ATTENTION|never reached"):
        getattr(suite, scenario)(conform)
    assert emulator.posts() == [], "the broken provider got a post onto the platform"
