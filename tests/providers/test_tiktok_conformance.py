"""TikTok joins the provider conformance suite (direct post: the last chunk is the commit)."""

from __future__ import annotations

import secrets
from pathlib import Path

from atroposd.demo import make_clip
from atroposd.providers.base import Credentials
from tests.providers.conformance import ProviderConformance
from tests.providers.harness import Binding, Commit, Rejection

CHUNK = 5 * 1024 * 1024  # TikTok's smallest chunk (TIKTOK_PLAN)
TITLE_TOO_LONG = "The title is longer than 2200 characters."


def tiktok_media(path: Path) -> Path:
    """A real H.264/AAC MP4 of ~17 MiB: three TikTok chunks (5, 5 and ~7 MiB)."""
    return make_clip(path, 7, seconds=3.0, size="360x640", bitrate="50M")


def fresh_login(account: str) -> Credentials:
    """A new sandbox refresh token each time: TikTok rotates them, so a token one process
    spent (the suite's kill -9 child) cannot be handed to the next one."""
    return Credentials("", refresh_token=f"sandbox:{account}:{secrets.token_hex(6)}")


TIKTOK = Binding(
    name="tiktok",
    steps={
        "auth": "token",
        "session": "init",
        "media": "chunk",
        "query": "status",
        "poll": "status",
    },
    # floor(size / chunk) chunks, the remainder in the last one: the last chunk publishes.
    commit=Commit("chunk", nth=lambda size, chunk: max(1, size // chunk)),
    credentials=fresh_login,
    secrets={"TIKTOK_CLIENT_KEY": "conf-tt-client-key", "TIKTOK_CLIENT_SECRET": "conf-tt-secret"},
    rejection=Rejection(
        body={
            "data": {},
            "error": {"code": "invalid_params", "message": TITLE_TOO_LONG, "log_id": "2026X"},
        },
        code="invalid_params",
        message=TITLE_TOO_LONG,
    ),
    make_media=tiktok_media,
    chunk_size=CHUNK,
)


class TestTikTokConformance(ProviderConformance):
    binding = TIKTOK
