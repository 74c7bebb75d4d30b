"""A child process posting one clip to TikTok with tokens in a real vault, to be killed.

    python -m tests.providers.tiktok_child <emulator url> <media> <home> <tokens dir> <key>

Like ``crash_child`` but the credentials are the daemon's own ``Vault`` (encrypted files,
atomic writes) under ``<tokens dir>``, so a test can read what reached the disk after a kill.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from atroposd.providers import REGISTRY
from atroposd.vault import Vault
from tests.providers.harness import context, make_request
from tests.providers.pipeline import Pipeline
from tests.providers.tiktok_support import TIKTOK


async def post_once(url: str, media: Path, home: Path, vault: Vault) -> None:
    """Plan and drive one post; the post id goes to stdout first."""
    async with httpx.AsyncClient(timeout=120.0) as http:
        provider = REGISTRY["tiktok"](context(TIKTOK, url, http, vault))  # type: ignore[arg-type]
        pipeline = Pipeline.build(provider, home, 120.0)
        post = pipeline.plan(make_request(media), provider.name)
        print(post.id, flush=True)
        await pipeline.drive(post.id, 120.0)


def main(argv: list[str]) -> int:
    url, media, home, tokens, key = argv
    vault = Vault(Path(tokens), key, sandbox=False)
    asyncio.run(post_once(url, Path(media), Path(home), vault))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
