"""TikTok's account block refuses, at start-up, values TikTok itself would refuse at post time."""

from __future__ import annotations

import pydantic
import pytest

from atroposd.providers.tiktok.account import TikTokAccount


@pytest.mark.parametrize("block", [{"video_cover_timestamp_ms": -5}, {"privacy": "public"}])
def test_values_tiktok_refuses_are_config_errors(block: dict[str, object]) -> None:
    with pytest.raises(pydantic.ValidationError):
        TikTokAccount.model_validate({"enabled": True, **block})


def test_a_cover_frame_at_the_start_is_fine() -> None:
    assert (
        TikTokAccount.model_validate({"video_cover_timestamp_ms": 0}).video_cover_timestamp_ms == 0
    )
