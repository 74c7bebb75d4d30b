"""Must-show 1: every route but /healthz needs the token; the token file is 0600; a
non-loopback bind without API_TOKEN is refused; the token never reaches a log line."""

from __future__ import annotations

import json
import logging
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets.sync.client as wsc
from websockets.exceptions import ConnectionClosed, InvalidStatus

from atroposd.api.auth import QueryTokenFilter, check_bind, load_token, scrub_query
from atroposd.errors import ConfigError
from tests.api.support import LiveApi
from tests.support import REPO, Daemon, Workspace

SPEC = REPO / "docs" / "openapi.json"


def _routes() -> list[tuple[str, str]]:
    doc = json.loads(SPEC.read_text(encoding="utf-8"))
    found = [
        (method.upper(), path.replace("{job_id}", "1"))
        for path, item in doc["paths"].items()
        for method in item
    ]
    return [*found, ("GET", "/openapi.json")]


def test_every_route_but_healthz_answers_401_without_the_token_or_with_a_wrong_one(
    live: LiveApi,
) -> None:
    routes = [r for r in _routes() if r[1] != "/healthz"]
    assert len(routes) >= 9, routes
    with (
        httpx.Client(base_url=live.url, timeout=30) as bare,
        live.client("w" * len(live.token)) as wrong,
        httpx.Client(base_url=live.url, headers={"Authorization": f"Basic {live.token}"}) as basic,
        live.client() as good,
    ):
        for method, path in routes:
            body = {"path": "/nowhere.mp4"} if method == "POST" else None
            for client in (bare, wrong, basic):
                got = client.request(method, path, json=body, params={"accountId": "default"})
                assert got.status_code == 401, (method, path, got.status_code, got.text)
                assert got.headers["www-authenticate"] == "Bearer"
                assert live.token not in got.text
        assert bare.get("/healthz").json() == {"status": "ok"}
        assert good.get("/api/jobs").status_code == 200
        served = good.get("/openapi.json").json()
    assert served["paths"].keys() == json.loads(SPEC.read_text())["paths"].keys()


def test_the_token_file_is_private(live: LiveApi) -> None:
    path = live.ws.state / "api-token"
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(live.token) >= 40


def test_the_websocket_takes_the_token_as_a_header_or_query_and_401s_without(
    live: LiveApi,
) -> None:
    url = live.url.replace("http", "ws") + "/ws/jobs/999999"
    for attempt in (
        {"uri": url},
        {"uri": url + "?token=" + "w" * 40},
        {"uri": url, "additional_headers": {"Authorization": "Bearer nope"}},
        {"uri": url + "?tok%65n=" + live.token},  # a key the log scrubbing might not know
    ):
        with pytest.raises(InvalidStatus) as refused:
            wsc.connect(**attempt, open_timeout=30).close()  # type: ignore[arg-type]
        assert refused.value.response.status_code == 401
    for attempt in (
        {"uri": url + "?token=" + live.token},
        {"uri": url, "additional_headers": {"Authorization": f"Bearer {live.token}"}},
    ):
        with wsc.connect(**attempt, open_timeout=30) as sock:  # type: ignore[arg-type]
            with pytest.raises(ConnectionClosed):
                sock.recv(timeout=30)
            assert sock.protocol.close_rcvd is not None
            assert sock.protocol.close_rcvd.code == 1008
            assert sock.protocol.close_rcvd.reason == "Job not found"
    said = "".join(live.daemon.raw) + "".join(live.daemon.stderr)
    assert live.token not in said


def test_only_loopback_binds_go_without_api_token() -> None:
    for host in ("127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"):
        check_bind(host, token_set=False)
    for host in ("0.0.0.0", "::", "192.0.2.10", "example.org", "my-laptop.local"):
        with pytest.raises(ConfigError, match="API_TOKEN"):
            check_bind(host, token_set=False)
        check_bind(host, token_set=True)


def test_uvicorn_lines_lose_the_query_token() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        (("127.0.0.1", 5), "/ws/jobs/1?token=s3cr3t-value&x=1"),
        None,
    )
    assert QueryTokenFilter().filter(record)
    assert "s3cr3t-value" not in record.getMessage()
    for spelled in ("?tok%65n=s3cr3t-value", "?x=1&%74OKEN=s3cr3t-value", "?TOKEN=s3cr3t-value"):
        assert "s3cr3t-value" not in scrub_query("/ws/jobs/1" + spelled), spelled
    assert "/ws/jobs/1?token=[redacted]&x=1" in record.getMessage()
    assert scrub_query("GET /m?a=1&TOKEN=abc HTTP/1.1") == "GET /m?a=1&TOKEN=[redacted] HTTP/1.1"


def test_a_non_loopback_bind_without_api_token_is_refused_at_start(tmp_path: Path) -> None:
    host = "0.0.0.0"
    ws = Workspace(tmp_path / "home", "http://127.0.0.1:9", api=True)
    daemon = Daemon(ws, extra_env={"API_HOST": host})
    assert daemon.wait(60) == 2
    said = "".join(daemon.stderr)
    assert f"API_HOST {host}" in said and "API_TOKEN" in said, said
    assert not daemon.events("daemon_started")


def test_standalone_without_api_token_refuses_requests_that_came_over_the_network() -> None:
    import asyncio

    from atroposd.api.guard import LoopbackOnly

    reached: list[str] = []

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        reached.append(str(scope["server"]))

    async def call(server: tuple[str, int]) -> list[dict[str, object]]:
        sent: list[dict[str, object]] = []

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        scope = {"type": "http", "server": server, "path": "/api/jobs"}
        await LoopbackOnly(app)(scope, None, send)
        return sent

    assert asyncio.run(call(("127.0.0.1", 8787))) == [] and reached == ["('127.0.0.1', 8787)"]
    refused = asyncio.run(call(("192.168.1.20", 8787)))
    assert refused[0]["status"] == 503 and b"API_TOKEN" in refused[1]["body"]  # type: ignore[operator]
    assert len(reached) == 1


def test_the_token_file_appears_whole_to_starters_racing_for_it(tmp_path: Path) -> None:
    """The daemon and a standalone server starting together: each gets the one token, none
    reads the file between its creation and its content (it was created empty, then written)."""
    for round_ in range(40):
        state = tmp_path / str(round_)
        state.mkdir()
        gate = threading.Barrier(6)
        got: list[str | Exception] = []

        def start(
            state: Path = state, gate: threading.Barrier = gate, got: list[Any] = got
        ) -> None:
            gate.wait()
            try:
                got.append(load_token(state, None))
            except Exception as exc:
                got.append(exc)

        threads = [threading.Thread(target=start) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(map(str, got))) == 1 and isinstance(got[0], str), got
        assert (state / "api-token").read_text().strip() == got[0]
        assert stat.S_IMODE((state / "api-token").stat().st_mode) == 0o600
        assert sorted(p.name for p in state.iterdir()) == ["api-token"]
