"""The rupload client against the real emulator: an offset the host refuses is re-synced from the
host's own count (providers.md §8, "offset mismatch"), the file is streamed in chunks, and the
host ends up with exactly the file's bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from atroposd.clock import SystemClock
from atroposd.providers.base import Credentials
from atroposd.providers.meta import MetaTokens, Rupload, meta_token_endpoint
from tests.providers.harness import MemoryCredentials, default_media
from tests.support import Emulator, sha256

GRAPH = "/instagram/v26.0"


def test_a_refused_offset_is_resynced_from_the_host_and_the_bytes_are_whole(
    emulator: Emulator, tmp_path: Path
) -> None:
    clip = default_media(tmp_path / "clip.mp4")
    data, size = clip.read_bytes(), clip.stat().st_size
    chunk = 256 * 1024

    async def main() -> None:
        sent: list[httpx.Request] = []

        async def record(request: httpx.Request) -> None:
            sent.append(request)

        async with httpx.AsyncClient(
            base_url=emulator.url, timeout=10, event_hooks={"request": [record]}
        ) as http:
            creds = MemoryCredentials(
                "instagram", {"alice": Credentials("", refresh_token="sandbox:alice:x")}
            )
            url = f"{emulator.url}{GRAPH}/oauth/access_token"
            endpoint = meta_token_endpoint("instagram", url, "app", "secret")
            tokens = MetaTokens(http, endpoint, creds, SystemClock(), sandbox=True)
            rupload = Rupload(http, tokens, SystemClock())
            token = await tokens.token("alice")
            auth = {"Authorization": f"Bearer {token}"}
            form = {"media_type": "REELS", "upload_type": "resumable"}
            made = (await http.post(f"{GRAPH}/ig1/media", data=form, headers=auth)).json()
            uri = made["uri"]
            # Someone else's request stored 1000 bytes the client does not know about.
            head = {"Authorization": f"OAuth {token}", "offset": "0", "file_size": str(size)}
            assert (await http.post(uri, content=data[:1000], headers=head)).status_code == 200
            assert await rupload.held("alice", uri) == 1000
            before = len(sent)
            held = await rupload.send_from("alice", uri, clip, size, 0, chunk)
            assert held == size == await rupload.held("alice", uri)
            posts = [r for r in sent[before:] if r.method == "POST"]
            assert posts[0].headers["offset"] == "0", "the stale offset was tried first"
            assert posts[1].headers["offset"] == "1000", "not re-synced from the host's count"
            assert all(int(r.headers["content-length"]) <= chunk for r in posts)
            cid = made["id"]
            for _ in range(400):
                got = await http.get(
                    f"{GRAPH}/{cid}", params={"fields": "status_code"}, headers=auth
                )
                if got.json()["status_code"] == "FINISHED":
                    break
                await asyncio.sleep(0.025)
            done = await http.post(
                f"{GRAPH}/ig1/media_publish", params={"creation_id": cid}, headers=auth
            )
            assert done.status_code == 200, done.text

    asyncio.run(main())
    [post] = emulator.posts()
    assert post["sha256"] == sha256(clip) and post["bytes"] == size
