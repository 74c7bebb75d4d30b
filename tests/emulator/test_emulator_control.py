"""The emulator obeys scripted faults and its control API (tokens, uploads, reset)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import httpx
import pytest

from atroposd.emulator import EmulatorServer

from .support import (
    KIB256,
    TRANSPORT_ERRORS,
    blob,
    create,
    faults,
    posts,
    put,
    query,
    run,
    session,
    token,
)


def test_status_fault_answers_instead_of_storing(tmp_path: Path) -> None:
    data = blob(2 * KIB256)
    busy = {"error": {"code": 503, "message": "Backend Error"}}

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        await faults(
            client,
            {"platform": "youtube", "step": "chunk", "nth": 1, "action": "status", "code": 503,
             "body": busy},
        )  # fmt: skip
        failed = await put(client, tok, uri, data[:KIB256], 0, len(data))
        assert failed.status_code == 503 and failed.json() == busy
        assert (await query(client, tok, uri, len(data))).status_code == 308
        ok = await put(client, tok, uri, data[:KIB256], 0, len(data))
        assert ok.status_code == 308 and ok.headers["range"] == f"bytes=0-{KIB256 - 1}"
        assert (await client.get("/_emulator/faults")).json() == []

    run(scenario, tmp_path)


def test_rate_limit_fault_carries_retry_after_on_the_nth_request(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        rule = {"platform": "youtube", "step": "create", "nth": 2, "times": 2}
        await faults(
            client, {**rule, "action": "status", "code": 429, "headers": {"Retry-After": "2"}}
        )
        assert (await create(client, tok, 10)).status_code == 200
        [listed] = (await client.get("/_emulator/faults")).json()
        assert listed["seen"] == 1 and listed["fired"] == 0
        for _ in range(2):
            limited = await create(client, tok, 10)
            assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
            assert limited.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
        assert (await create(client, tok, 10)).status_code == 200
        assert len((await client.get("/_emulator/uploads")).json()) == 2
        assert (await client.get("/_emulator/faults")).json() == []

    run(scenario, tmp_path)


def test_delay_fault_waits_then_proceeds(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        await faults(
            client, {"platform": "youtube", "step": "token", "action": "delay", "seconds": 0.2}
        )
        started = time.monotonic()
        await token(client)
        assert time.monotonic() - started >= 0.2

    run(scenario, tmp_path)


def test_drop_fault_closes_without_storing(tmp_path: Path) -> None:
    data = blob(KIB256 * 4)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        await faults(client, {"platform": "youtube", "step": "chunk", "action": "drop"})
        with pytest.raises(TRANSPORT_ERRORS):
            await put(client, tok, uri, data[: 2 * KIB256], 0, len(data))
        status = await query(client, tok, uri, len(data))
        assert status.status_code == 308 and "range" not in status.headers
        await faults(client, {"platform": "youtube", "step": "create", "action": "drop"})
        with pytest.raises(TRANSPORT_ERRORS):
            await create(client, tok, 10)
        assert len((await client.get("/_emulator/uploads")).json()) == 1

    run(scenario, tmp_path)


def test_commit_then_drop_stores_the_chunk(tmp_path: Path) -> None:
    data = blob(KIB256 * 2 + 7)

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, len(data))
        await faults(
            client,
            {"platform": "youtube", "step": "chunk", "nth": 1, "action": "commit_then_drop"},
            {"platform": "youtube", "step": "chunk", "nth": 2, "action": "commit_then_drop"},
        )
        with pytest.raises(TRANSPORT_ERRORS):
            await put(client, tok, uri, data[: 2 * KIB256], 0, len(data))
        status = await query(client, tok, uri, len(data))
        assert status.status_code == 308 and status.headers["range"] == f"bytes=0-{2 * KIB256 - 1}"
        with pytest.raises(TRANSPORT_ERRORS):
            await put(client, tok, uri, data[2 * KIB256 :], 2 * KIB256, len(data))
        [post] = await posts(client)
        assert post["sha256"] == hashlib.sha256(data).hexdigest()
        recovered = await query(client, tok, uri, len(data))
        assert recovered.status_code == 200 and recovered.json()["id"] == post["id"]

    run(scenario, tmp_path)


def test_fault_rules_are_validated(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        bad_rules = [
            {"platform": "youtube", "step": "nope", "action": "drop"},
            {"platform": "myspace", "step": "chunk", "action": "drop"},
            {"platform": "youtube", "step": "chunk", "action": "status"},
            {"platform": "youtube", "step": "chunk", "action": "explode"},
        ]
        for rule in bad_rules:
            resp = await client.post("/_emulator/faults", json=[rule])
            assert resp.status_code == 400, rule
        await faults(client, {"platform": "youtube", "step": "list", "action": "drop"})
        assert (await client.delete("/_emulator/faults")).status_code == 200
        assert (await client.get("/_emulator/faults")).json() == []

    run(scenario, tmp_path)


def test_revoke_kills_refresh_and_access_tokens_until_new_consent(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client, "alice")
        bob = await token(client, "bob")
        resp = await client.post(
            "/_emulator/revoke", json={"platform": "youtube", "account": "alice"}
        )
        assert resp.status_code == 200
        assert (await create(client, tok, 10)).status_code == 401
        assert (await create(client, bob, 10)).status_code == 200
        form = {"grant_type": "refresh_token", "client_id": "c", "client_secret": "s"}
        dead = await client.post(
            "/youtube/token", data={**form, "refresh_token": "sandbox:alice:r"}
        )
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
        code = {"grant_type": "authorization_code", "code": "sandbox:alice", "client_id": "c"}
        login = await client.post("/youtube/token", data={**code, "client_secret": "s"})
        fresh = login.json()["refresh_token"]
        renewed = await client.post("/youtube/token", data={**form, "refresh_token": fresh})
        assert renewed.status_code == 200
        assert (await create(client, renewed.json()["access_token"], 10)).status_code == 200

    run(scenario, tmp_path)


def test_expire_tokens_forces_a_refresh(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, 10)
        assert (
            await client.post("/_emulator/expire_tokens", json={"platform": "youtube"})
        ).is_success
        assert (await query(client, tok, uri, 10)).status_code == 401
        fresh = await token(client)
        assert (await query(client, fresh, uri, 10)).status_code == 308

    run(scenario, tmp_path)


def test_reset_and_expire_uploads_forget_state(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, 10)
        await client.post("/_emulator/expire_uploads", json={})
        assert (await query(client, tok, uri, 10)).status_code == 404
        uri = await session(client, tok, 10)
        await put(client, tok, uri, b"0123456789", 0, 10)
        await faults(client, {"platform": "youtube", "step": "list", "action": "drop"})
        assert len(await posts(client)) == 1
        assert (await client.post("/_emulator/reset")).status_code == 200
        assert await posts(client) == []
        assert (await client.get("/_emulator/faults")).json() == []
        assert (await create(client, tok, 10)).status_code == 401
        assert (await client.get("/_emulator/health")).json() == {"ok": True}

    run(scenario, tmp_path)


def test_status_step_faults_hit_only_status_queries(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, 2 * KIB256)
        await faults(
            client, {"platform": "youtube", "step": "status", "action": "status", "code": 500}
        )
        assert (await put(client, tok, uri, blob(KIB256), 0, 2 * KIB256)).status_code == 308
        failed = await query(client, tok, uri, 2 * KIB256)
        assert failed.status_code == 500
        assert failed.json()["error"]["errors"][0]["reason"] == "backendError"
        assert (await query(client, tok, uri, 2 * KIB256)).status_code == 308

    run(scenario, tmp_path)


def test_commit_then_drop_on_create_leaves_a_session_the_client_never_saw(tmp_path: Path) -> None:
    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        await faults(
            client, {"platform": "youtube", "step": "create", "action": "commit_then_drop"}
        )
        with pytest.raises(TRANSPORT_ERRORS):
            await create(client, tok, 10)
        [upload] = (await client.get("/_emulator/uploads")).json()
        assert upload["title"] == "Clip" and upload["account"] == "alice"
        assert upload["bytes_received"] == 0 and upload["total"] == 10

    run(scenario, tmp_path)


def test_reset_deletes_only_the_files_it_wrote(tmp_path: Path) -> None:
    keep = tmp_path / "youtube" / "user-file.txt"
    keep.parent.mkdir()
    keep.write_text("mine")

    async def scenario(server: EmulatorServer, client: httpx.AsyncClient) -> None:
        tok = await token(client)
        uri = await session(client, tok, 10)
        await put(client, tok, uri, b"0123456789", 0, 10)
        assert len(list((tmp_path / "youtube").glob("*.part"))) == 1
        await client.post("/_emulator/reset")
        assert list((tmp_path / "youtube").glob("*.part")) == []

    run(scenario, tmp_path)
    assert keep.read_text() == "mine"
