"""The YouTube emulator speaks Google's resumable protocol (providers.md §1)."""

from __future__ import annotations

import hashlib
import itertools
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from atroposd.emulator import EmulatorServer

from .support import (
    KIB256,
    LIST,
    UPLOAD,
    bearer,
    blob,
    create,
    posts,
    put,
    put_head,
    query,
    raw_request,
    run,
    session,
    token,
    wait_for,
)


def test_refresh_token_exchange_returns_bearer(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s"}
        ok = await client.post("/youtube/token", data={**form, "refresh_token": "sandbox:a:x"})
        body = ok.json()
        assert ok.status_code == 200
        assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
        assert body["scope"] == "https://www.googleapis.com/auth/youtube.upload"
        assert "refresh_token" not in body
        bad = await client.post("/youtube/token", data={**form, "refresh_token": "nope"})
        assert bad.status_code == 400
        assert bad.json() == {
            "error": "invalid_grant",
            "error_description": "Token has been expired or revoked.",
        }
        basic = await client.post(
            "/youtube/token",
            data={"grant_type": "refresh_token", "refresh_token": "sandbox:a:x"},
            auth=("c", "s"),
        )
        assert basic.status_code == 200
        anon = await client.post("/youtube/token", data={"grant_type": "refresh_token"})
        assert anon.status_code == 401 and anon.json()["error"] == "invalid_client"

    run(scenario, tmp_path)


def test_api_call_without_valid_bearer_is_unauthenticated(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        for tok in ("made-up", ""):
            resp = await create(client, tok, 10)
            err = resp.json()["error"]
            assert resp.status_code == 401 and err["status"] == "UNAUTHENTICATED"
            assert err["errors"][0]["reason"] == "authError"
            assert err["errors"][0]["location"] == "Authorization"

    run(scenario, tmp_path)


def test_three_chunk_upload_publishes_with_matching_sha256(tmp_path: Path) -> None:
    data = blob(2 * KIB256 * 2 + 12345)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        assert uri.startswith(server.base_url + UPLOAD + "?uploadType=resumable&upload_id=")
        cuts = [0, 2 * KIB256, 4 * KIB256, len(data)]
        for first, end in itertools.pairwise(cuts):
            resp = await put(client, tok, uri, data[first:end], first, len(data))
            if end < len(data):
                assert resp.status_code == 308 and resp.headers["range"] == f"bytes=0-{end - 1}"
        assert resp.status_code == 200
        video = resp.json()
        assert video["kind"] == "youtube#video" and len(video["id"]) == 11
        assert video["status"]["uploadStatus"] == "uploaded"
        assert video["status"]["privacyStatus"] == "public"
        assert video["snippet"]["title"] == "Clip"
        [post] = await posts(client)
        assert post["platform"] == "youtube" and post["account"] == "alice"
        assert post["id"] == video["id"] and post["caption"] == "A caption"
        assert post["bytes"] == len(data)
        assert post["sha256"] == hashlib.sha256(data).hexdigest()
        assert post["created_at"].endswith("Z")
        assert (await client.get("/_emulator/uploads")).json() == []

    run(scenario, tmp_path)


def test_videos_list_reports_processing_then_processed(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, 1000)
        video_id = (await put(client, tok, uri, blob(1000), 0, 1000)).json()["id"]
        params = {"part": "status,processingDetails", "id": video_id}

        async def processed() -> bool:
            resp = await client.get(LIST, params=params, headers=bearer(tok))
            item = resp.json()["items"][0]
            assert item["id"] == video_id
            assert item["status"]["uploadStatus"] in {"uploaded", "processed"}
            done: bool = item["status"]["uploadStatus"] == "processed"
            status = item["processingDetails"]["processingStatus"]
            assert status == ("succeeded" if done else "processing")
            return done

        await wait_for(processed)
        other = await client.get(LIST, params={**params, "id": "unknownid00"}, headers=bearer(tok))
        assert other.json()["kind"] == "youtube#videoListResponse"
        assert other.json()["items"] == []

    run(scenario, tmp_path)


def test_status_query_reports_range_then_the_video(tmp_path: Path) -> None:
    data = blob(KIB256 + 10)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        empty = await query(client, tok, uri, len(data))
        assert empty.status_code == 308 and "range" not in empty.headers
        await put(client, tok, uri, data[:KIB256], 0, len(data))
        half = await query(client, tok, uri, len(data))
        assert half.status_code == 308 and half.headers["range"] == f"bytes=0-{KIB256 - 1}"
        [upload] = (await client.get("/_emulator/uploads")).json()
        assert upload["bytes_received"] == KIB256 and upload["total"] == len(data)
        done = await put(client, tok, uri, data[KIB256:], KIB256, len(data))
        again = await query(client, tok, uri, len(data))
        assert again.status_code == 200 and again.json() == done.json()
        replay = await put(client, tok, uri, data[KIB256:], KIB256, len(data))
        assert replay.status_code == 200 and replay.json()["id"] == done.json()["id"]
        assert len(await posts(client)) == 1

    run(scenario, tmp_path)


def test_bad_content_ranges_are_rejected(tmp_path: Path) -> None:
    data = blob(3 * KIB256)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        odd = await put(client, tok, uri, data[: KIB256 + 1], 0, len(data))
        assert odd.status_code == 400 and "multiple" in odd.json()["error"]["message"]
        ahead = await put(client, tok, uri, data[KIB256 : 2 * KIB256], KIB256, len(data))
        assert ahead.status_code == 400 and "exceeds" in ahead.json()["error"]["message"]
        wrong_total = await put(client, tok, uri, data[:KIB256], 0, len(data) + 1)
        assert wrong_total.status_code == 400
        headers = {**bearer(tok), "Content-Range": f"bytes {KIB256}-{KIB256 - 1}/{len(data)}"}
        empty = await client.put(uri, content=b"", headers=headers)
        assert empty.status_code == 400
        assert empty.json()["error"]["message"] == "Failed to parse Content-Range header."
        assert (await query(client, tok, uri, len(data))).status_code == 308
        assert (await client.get("/_emulator/uploads")).json()[0]["bytes_received"] == 0
        gone = await query(client, tok, uri.replace("upload_id=", "upload_id=x"), len(data))
        assert gone.status_code == 404

    run(scenario, tmp_path)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"snippet": {"title": ""}}, "invalidTitle"),
        ({"snippet": {"title": "x" * 101}}, "invalidTitle"),
        ({"snippet": {"title": "a <b>"}}, "invalidTitle"),
        ({"snippet": {"title": "t", "description": "é" * 2501}}, "invalidDescription"),
        ({"snippet": {"title": "t", "tags": ["x" * 300, "y" * 200]}}, "invalidTags"),
        (
            {"snippet": {"title": "t"}, "status": {"privacyStatus": "public", "publishAt": "2030"}},
            "invalidPublishAt",
        ),
        (
            {"snippet": {"title": "t"}, "status": {"privacyStatus": "friends"}},
            "invalidVideoMetadata",
        ),
    ],
)
def test_invalid_metadata_is_rejected(tmp_path: Path, meta: dict[str, Any], reason: str) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        resp = await create(client, await token(client), 10, meta)
        assert resp.status_code == 400
        error = resp.json()["error"]
        assert error["code"] == 400 and error["errors"][0]["reason"] == reason
        assert error["errors"][0]["domain"] == "youtube.video"
        assert (await client.get("/_emulator/uploads")).json() == []

    run(scenario, tmp_path)


def test_metadata_at_the_limits_is_accepted(tmp_path: Path) -> None:
    meta = {
        "snippet": {"title": "x" * 100, "description": "é" * 2500, "tags": ["t" * 500]},
        "status": {"privacyStatus": "private", "publishAt": "2030-01-01T10:00:00Z"},
    }

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        resp = await create(client, await token(client), 10, meta)
        assert resp.status_code == 200, resp.text
        missing = await client.post(UPLOAD, params={"part": "snippet"}, json=meta)
        assert missing.status_code == 400

    run(scenario, tmp_path)


def test_single_put_of_20_mib_without_content_range(tmp_path: Path) -> None:
    data = blob(20 << 20)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        resp = await client.put(uri, content=data, headers=bearer(tok))
        assert resp.status_code == 200, resp.text
        [post] = await posts(client)
        assert post["bytes"] == len(data)
        assert post["sha256"] == hashlib.sha256(data).hexdigest()

    run(scenario, tmp_path)


def test_expect_100_continue_is_honoured(tmp_path: Path) -> None:
    data = blob(1000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        head = put_head(uri, tok, len(data), "bytes 0-999/1000", "Expect: 100-continue\r\n")
        reader, writer = await raw_request(server, head)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
        writer.write(data)
        assert (await reader.readuntil(b"\r\n")).startswith(b"HTTP/1.1 200")
        writer.close()
        await writer.wait_closed()
        assert (await posts(client))[0]["sha256"] == hashlib.sha256(data).hexdigest()

    run(scenario, tmp_path)


def test_chunk_cut_off_mid_body_keeps_an_aligned_prefix(tmp_path: Path) -> None:
    data = blob(4 * KIB256)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        head = put_head(uri, tok, len(data), f"bytes 0-{len(data) - 1}/{len(data)}")
        _, writer = await raw_request(server, head)
        writer.write(data[: KIB256 + 5000])
        await writer.drain()

        async def received() -> bool:
            uploads = (await client.get("/_emulator/uploads")).json()
            return bool(uploads[0]["bytes_received"] >= KIB256)

        await wait_for(received)
        writer.close()
        await writer.wait_closed()
        status = await query(client, tok, uri, len(data))
        assert status.headers["range"] == f"bytes=0-{KIB256 - 1}"
        done = await put(client, tok, uri, data[KIB256:], KIB256, len(data))
        assert done.status_code == 200
        assert (await posts(client))[0]["sha256"] == hashlib.sha256(data).hexdigest()

    run(scenario, tmp_path)


def test_module_entry_point_serves_until_sigterm(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [sys.executable, "-m", "atroposd.emulator", "--port", str(port)]
    proc = subprocess.Popen([*args, "--storage-dir", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/_emulator/health", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert json.loads(health.text) == {"ok": True}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_overlapping_resend_skips_bytes_already_stored(tmp_path: Path) -> None:
    data = blob(3 * KIB256 + 99)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        await put(client, tok, uri, data[:KIB256], 0, len(data))
        again = await put(client, tok, uri, data[: 2 * KIB256], 0, len(data))
        assert again.status_code == 308 and again.headers["range"] == f"bytes=0-{2 * KIB256 - 1}"
        done = await put(client, tok, uri, data[KIB256:], KIB256, len(data))
        assert done.status_code == 200
        [post] = await posts(client)
        assert post["bytes"] == len(data)
        assert post["sha256"] == hashlib.sha256(data).hexdigest()

    run(scenario, tmp_path)
