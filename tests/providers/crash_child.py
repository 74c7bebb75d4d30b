"""A child process that posts the suite's clip through the real publisher, to be killed.

    python -m tests.providers.crash_child <module>:<TestClass> <emulator url> <media> <home>

It builds the provider of the test class's binding exactly as the suite does, plans the clip
in a ledger under ``<home>``, prints the post id and drives the post until it settles (or
until the parent kills it with SIGKILL while a commit's answer is held back).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import httpx

from atroposd.providers import REGISTRY
from tests.providers.harness import ACCOUNT, Binding, MemoryCredentials, context, make_request
from tests.providers.pipeline import Pipeline


async def post_once(binding: Binding, url: str, media: Path, home: Path) -> None:
    """Plan and drive one post; the post id goes to stdout first."""
    creds = MemoryCredentials(binding.name, {ACCOUNT: binding.credentials(ACCOUNT)})
    async with httpx.AsyncClient(timeout=120.0) as http:
        provider = REGISTRY[binding.key](context(binding, url, http, creds))
        pipeline = Pipeline.build(provider, home, 120.0)
        post = pipeline.plan(make_request(media), provider.name)
        print(post.id, flush=True)
        await pipeline.drive(post.id, 120.0)


def main(argv: list[str]) -> int:
    where, url, media, home = argv
    module, name = where.split(":")
    binding: Binding = getattr(importlib.import_module(module), name).binding
    asyncio.run(post_once(binding, url, Path(media), Path(home)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
