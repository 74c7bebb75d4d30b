"""The Snapchat emulator speaks the Public Profile API (providers.md §6, §8.5)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from atroposd.emulator import EmulatorServer
from tests.support import make_clip

from .support import faults, posts, run, wait_for

TOKEN = "/snapchat/login/oauth2/access_token"
API = "/snapchat/v1/public_profiles"
PART = 64 * 1024


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(
        tmp_path_factory.mktemp("snap") / "c.mp4", seconds=1.0, bitrate="1M"
    ).read_bytes()


def encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


async def token(client: httpx.AsyncClient, account: str = "alice", refresh: str = "") -> str:
    form = {
        "grant_type": "refresh_token",
        "client_id": "cid",
        "client_secret": "secret",
        "refresh_token": refresh or f"sandbox:{account}:r1",
    }
    resp = await client.post(TOKEN, data=form)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def auth(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def profile(client: httpx.AsyncClient, tok: str) -> str:
    resp = await client.get(f"{API}/my_profile", headers=auth(tok))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["public_profiles"][0]["public_profile"]["id"])


async def create(client: httpx.AsyncClient, tok: str, pid: str, key: bytes, iv: bytes) -> Any:
    doc = {
        "type": "VIDEO",
        "name": "My clip",
        "key": base64.b64encode(key).decode(),
        "iv": base64.b64encode(iv).decode(),
    }
    resp = await client.post(f"{API}/{pid}/media", json=doc, headers=auth(tok))
    assert resp.status_code == 200, resp.text
    return resp.json()


async def add(client: httpx.AsyncClient, tok: str, path: str, number: int, data: bytes) -> Any:
    form = {"action": "ADD", "part_number": str(number)}
    return await client.post(
        "/snapchat" + path, data=form, files={"file": ("p", data)}, headers=auth(tok)
    )


async def finalize(client: httpx.AsyncClient, tok: str, path: str) -> httpx.Response:
    return await client.post(
        "/snapchat" + path, files={"action": (None, "FINALIZE")}, headers=auth(tok)
    )


async def media_status(client: httpx.AsyncClient, tok: str, pid: str, mid: str) -> dict[str, Any]:
    resp = await client.get(f"{API}/{pid}/media/{mid}", headers=auth(tok))
    assert resp.status_code == 200, resp.text
    entity: dict[str, Any] = resp.json()["media"][0]["media"]
    return entity


async def uploaded(client: httpx.AsyncClient, plain: bytes, parts_reversed: bool = True) -> Any:
    """Token, profile, created media with every part of ``plain`` (encrypted) and FINALIZE."""
    tok = await token(client)
    pid = await profile(client, tok)
    key, iv = os.urandom(32), os.urandom(16)
    made = await create(client, tok, pid, key, iv)
    cipher = encrypt(plain, key, iv)
    parts = [cipher[i : i + PART] for i in range(0, len(cipher), PART)]
    order = list(enumerate(parts, 1))
    for number, data in reversed(order) if parts_reversed else order:  # any order
        resp = await add(client, tok, made["add_path"], number, data)
        assert resp.status_code == 200 and resp.json()["request_status"] == "SUCCESS", resp.text
    done = await finalize(client, tok, made["finalize_path"])
    return tok, pid, made, done


async def ready(client: httpx.AsyncClient, tok: str, pid: str, mid: str) -> None:
    """Wait until processing ended, asking no faster than Snap's 10 requests/s allow."""

    async def is_ready() -> bool:
        await asyncio.sleep(0.15)
        return (await media_status(client, tok, pid, mid))["media_status"] != "PROCESSING"

    await wait_for(is_ready)


def test_encrypted_parts_in_any_order_become_one_spotlight_of_the_decrypted_video(
    tmp_path: Path, clip: bytes
) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok, pid, made, done = await uploaded(client, clip)
        assert done.status_code == 200, done.text
        assert made["add_path"].startswith(f"/us/v1/public_profiles/{pid}/media/")
        assert (await media_status(client, tok, pid, made["media_id"]))["media_status"] in (
            "PROCESSING",
            "READY",
        )
        await ready(client, tok, pid, made["media_id"])
        doc = {"media_id": made["media_id"], "description": "Hi #snap", "locale": "en_US"}
        resp = await client.post(f"{API}/{pid}/spotlights", json=doc, headers=auth(tok))
        assert resp.status_code == 200, resp.text
        spotlight = resp.json()["spotlight_id"]
        [post] = await posts(client)
        assert post["platform"] == "snapchat" and post["id"] == spotlight
        assert post["sha256"] == hashlib.sha256(clip).hexdigest()
        assert (post["bytes"], post["title"], post["caption"]) == (len(clip), "My clip", "Hi #snap")
        assert post["account"] == "alice"
        listed = (await client.get(f"{API}/{pid}/spotlights", headers=auth(tok))).json()
        [entry] = listed["spotlights"]
        assert entry["spotlight"]["media_id"] == made["media_id"]
        again = await client.post(f"{API}/{pid}/spotlights", json=doc, headers=auth(tok))
        assert again.status_code == 400
        assert again.json()["error_code"] == "MEDIA_POSTING_ALREADY_IN_PROGRESS"
        assert len(await posts(client)) == 1

    run(scenario, tmp_path)


def test_a_story_answers_its_request_id_only_and_is_listed(tmp_path: Path, clip: bytes) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok, pid, made, _ = await uploaded(client, clip, parts_reversed=False)
        await ready(client, tok, pid, made["media_id"])
        body = {"media_id": made["media_id"]}
        resp = await client.post(f"{API}/{pid}/stories", json=body, headers=auth(tok))
        assert resp.status_code == 200, resp.text
        assert set(resp.json()) == {"request_status", "request_id"}
        listed = (await client.get(f"{API}/{pid}/stories", headers=auth(tok))).json()
        [entry] = listed["stories"]
        [post] = await posts(client)
        assert entry["story"]["id"] == post["id"] and post["caption"] == ""
        assert entry["story"]["media_id"] == made["media_id"]

    run(scenario, tmp_path)


def test_wrong_key_or_a_file_that_is_no_video_is_refused_at_finalize(
    tmp_path: Path, clip: bytes
) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        pid = await profile(client, tok)
        for plain, key in ((clip, os.urandom(32)), (b"not a video at all" * 100, None)):
            real_key, iv = os.urandom(32), os.urandom(16)
            made = await create(client, tok, pid, real_key, iv)
            await add(client, tok, made["add_path"], 1, encrypt(plain, key or real_key, iv))
            resp = await finalize(client, tok, made["finalize_path"])
            assert resp.status_code == 400, resp.text
            body = resp.json()
            assert body["request_status"] == "ERROR" and body["error_code"] == "INVALID_FILE"
            assert (await media_status(client, tok, pid, made["media_id"]))[
                "media_status"
            ] == "PENDING_UPLOAD"
        assert await posts(client) == []

    run(scenario, tmp_path)


def test_an_mp4_without_a_movie_fails_processing_with_the_reason(
    tmp_path: Path, clip: bytes
) -> None:
    head = clip[: int.from_bytes(clip[:4], "big")]  # the ftyp box alone
    fake = head + (8 + 1000).to_bytes(4, "big") + b"mdat" + os.urandom(1000)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok, pid, made, done = await uploaded(client, fake)
        assert done.status_code == 200, done.text
        await ready(client, tok, pid, made["media_id"])
        entity = await media_status(client, tok, pid, made["media_id"])
        assert entity["media_status"] == "FAILED" and "moov" in entity["failure_reason"]
        doc = {"media_id": made["media_id"], "locale": "en_US"}
        resp = await client.post(f"{API}/{pid}/spotlights", json=doc, headers=auth(tok))
        assert resp.status_code == 400 and resp.json()["error_code"] == "MEDIA_PROCESSING_FAILED"

    run(scenario, tmp_path)


def test_paths_are_followed_as_given_and_spotlight_rules_hold(tmp_path: Path, clip: bytes) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok, pid, made, _ = await uploaded(client, clip)
        rebuilt = made["add_path"].split("?")[0] + "?action=ADD"  # without the server's token
        assert (await add(client, tok, rebuilt, 1, b"x" * 16)).status_code == 404
        await ready(client, tok, pid, made["media_id"])
        url, mid = f"{API}/{pid}/spotlights", made["media_id"]
        no_locale = await client.post(url, json={"media_id": mid}, headers=auth(tok))
        assert no_locale.status_code == 400 and "locale" in no_locale.json()["debug_message"]
        long_doc = {"media_id": mid, "locale": "en_US", "description": "x" * 161}
        too_long = await client.post(url, json=long_doc, headers=auth(tok))
        assert (
            too_long.status_code == 400 and too_long.json()["error_code"] == "INVALID_DESCRIPTION"
        )
        wrapped = {"spotlights": [{**long_doc, "description": "y" * 160}]}
        ok = await client.post(url, json=wrapped, headers=auth(tok))
        assert ok.status_code == 200, ok.text
        assert ok.json()["spotlights"][0]["spotlight"]["id"] == (await posts(client))[0]["id"]

    run(scenario, tmp_path)


def test_key_and_iv_lengths_and_profile_owner_are_checked(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        pid = await profile(client, tok)
        doc = {"type": "VIDEO", "name": "n", "key": base64.b64encode(b"k" * 16).decode(), "iv": ""}
        bad = await client.post(f"{API}/{pid}/media", json=doc, headers=auth(tok))
        assert bad.status_code == 400 and bad.json()["request_status"] == "ERROR"
        other = await token(client, "bob")
        denied = await client.get(f"{API}/{pid}/spotlights", headers=auth(other))
        assert denied.status_code == 403 and denied.json()["error_code"] == "FORBIDDEN"
        nobody = await client.get(f"{API}/{pid}/spotlights", headers=auth("made-up"))
        assert nobody.status_code == 401

    run(scenario, tmp_path)


def test_refresh_tokens_rotate_when_asked_and_bad_ones_are_refused(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s"}
        first = await client.post(TOKEN, data={**form, "refresh_token": "sandbox:a:rotate1"})
        body = first.json()
        assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"
        assert body["refresh_token"].startswith("sandbox:a:rotate:")
        reused = await client.post(TOKEN, data={**form, "refresh_token": "sandbox:a:rotate1"})
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
        kept = await client.post(TOKEN, data={**form, "refresh_token": "sandbox:a:plain"})
        assert kept.json()["refresh_token"] == "sandbox:a:plain"
        no_client = await client.post(TOKEN, data={"grant_type": "refresh_token"})
        assert no_client.status_code == 401 and no_client.json()["error"] == "invalid_client"

    run(scenario, tmp_path)


def test_more_than_ten_requests_a_second_per_token_are_throttled_without_a_wait_header(
    tmp_path: Path,
) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        # Buckets refilled slowly: the burst of 10 is all a token gets, however slow the machine.
        slow = {"per_token": 0.001, "per_app": 0.001}
        (await client.post("/_emulator/snapchat/refill", json=slow)).raise_for_status()
        tok = await token(client)
        pid = await profile(client, tok)  # the token's first request
        answers = [await client.get(f"{API}/{pid}/stories", headers=auth(tok)) for _ in range(12)]
        assert [r.status_code for r in answers] == [200] * 9 + [429] * 3
        limited = answers[-1]
        assert limited.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
        assert not {"retry-after", "x-ratelimit-reset"} & set(limited.headers)

    run(scenario, tmp_path)


def test_every_step_takes_faults_in_snaps_envelope(tmp_path: Path, clip: bytes) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        steps = ["token", "profile", "create", "add", "finalize", "status", "publish", "list"]
        await faults(client, *({"platform": "snapchat", "step": s, "action": "status",
                                "code": 503, "nth": 99} for s in steps))  # fmt: skip
        await client.delete("/_emulator/faults")
        await faults(
            client, {"platform": "snapchat", "step": "add", "action": "status", "code": 500}
        )
        tok = await token(client)
        pid = await profile(client, tok)
        made = await create(client, tok, pid, os.urandom(32), os.urandom(16))
        resp = await add(client, tok, made["add_path"], 1, b"x" * 16)
        assert resp.status_code == 500
        assert resp.json()["request_status"] == "ERROR" and resp.json()["error_code"]
        held = (await client.get("/snapchat/_emulator/media")).json()
        assert held[0]["parts"] == {} and held[0]["stores"] == {}

    run(scenario, tmp_path)


def test_part_numbers_beyond_35_and_gaps_are_refused(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        pid = await profile(client, tok)
        made = await create(client, tok, pid, os.urandom(32), os.urandom(16))
        over = await add(client, tok, made["add_path"], 36, b"x" * 16)
        assert over.status_code == 400 and over.json()["error_code"] == "INVALID_PART_NUMBER"
        assert (await add(client, tok, made["add_path"], 2, b"x" * 16)).status_code == 200
        gap = await finalize(client, tok, made["finalize_path"])
        assert gap.status_code == 400 and gap.json()["error_code"] == "MISSING_PARTS"

    run(scenario, tmp_path)
