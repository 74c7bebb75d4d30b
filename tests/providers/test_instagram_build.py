"""How the registry builds Instagram: production hosts and secrets, settings, the account id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from atroposd.clock import SystemClock
from atroposd.errors import ConfigError, PermanentError
from atroposd.providers import REGISTRY, SPECS
from atroposd.providers.base import ProviderContext, UploadRequest
from atroposd.providers.instagram import InstagramAccount
from tests.providers.harness import MemoryCredentials


def build(
    sandbox: bool, secrets: dict[str, str], ig_user: str | None = None, **overrides: str
) -> object:
    async def main() -> object:
        async with httpx.AsyncClient() as http:
            ctx = ProviderContext(
                http=http,
                credentials=MemoryCredentials("instagram", {}),
                clock=SystemClock(),
                sandbox=sandbox,
                sandbox_url="http://127.0.0.1:9",
                chunk_size=1 << 20,
                secrets=secrets,
                overrides=overrides,
                account_ids=lambda platform, account: ig_user,
            )
            return REGISTRY["instagram"](ctx)

    return asyncio.run(main())


def test_the_spec_declares_the_account_id_and_the_meta_app() -> None:
    spec = SPECS["instagram"]
    assert (spec.account, spec.id_field, spec.account_id) == (
        InstagramAccount,
        "ig_user_id",
        "IG_BUSINESS_ID",
    )
    assert set(spec.secrets) == {"META_CLIENT_ID", "META_CLIENT_SECRET"}
    assert {"META_GRAPH_VERSION", "INSTAGRAM_GRAPH_BASE"} <= set(spec.settings)


def test_production_needs_the_meta_app_and_uses_graph_facebook_com(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="META_CLIENT_ID, META_CLIENT_SECRET"):
        build(False, {})
    app = {"META_CLIENT_ID": "id", "META_CLIENT_SECRET": "secret"}
    provider = build(False, app)
    assert provider._graph == "https://graph.facebook.com/v26.0"  # type: ignore[attr-defined]
    other = build(False, app, INSTAGRAM_GRAPH_BASE="https://meta.test/", META_GRAPH_VERSION="v25.0")
    assert other._graph == "https://meta.test/v25.0"  # type: ignore[attr-defined]
    assert build(True, {})._graph == "http://127.0.0.1:9/instagram/v26.0"  # type: ignore[attr-defined]
    # where a container answered without its ``uri`` is uploaded (providers.md §3.1 step 2)
    assert [p._rupload_root for p in (provider, other, build(True, {}))] == [  # type: ignore[attr-defined]
        "https://rupload.facebook.com/ig-api-upload/v26.0",
        "https://meta.test/rupload/ig-api-upload/v25.0",
        "http://127.0.0.1:9/instagram/rupload/ig-api-upload/v26.0",
    ]
    clip = tmp_path / "c.mp4"
    clip.write_bytes(b"x")
    request = UploadRequest("alice", clip, 1, "0" * 64, "t", "caption")
    with pytest.raises(PermanentError, match="ig_user_id"):
        asyncio.run(provider.upload(request, None, _never))  # type: ignore[attr-defined]
    named = build(False, app, ig_user="@mybrand")  # IG_BUSINESS_ID=@mybrand in .env
    with pytest.raises(PermanentError, match="not the numeric id"):
        asyncio.run(named.upload(request, None, _never))  # type: ignore[attr-defined]


async def _never(ref: object) -> None:
    raise AssertionError("nothing may be saved without an Instagram user id")


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("ig_user_id", "@mybrand", "numeric Instagram user id"),
        ("ig_user_id", "https://instagram.com/mybrand", "numeric Instagram user id"),
        ("cover_url", "cover.jpg", "public https URL"),
    ],
)
def test_an_instagram_block_with_a_username_or_a_local_cover_is_refused_at_start(
    field: str, value: str, words: str
) -> None:
    """What Graph would refuse only at the first post is named when the config is read."""
    with pytest.raises(ValueError, match=words):
        InstagramAccount.model_validate({field: value})
    ok = InstagramAccount.model_validate(
        {"ig_user_id": "17841400000000001", "cover_url": "https://cdn.example/c.jpg"}
    )
    assert ok.ig_user_id == "17841400000000001"
