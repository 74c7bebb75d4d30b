"""The command line as users script it: version, emulator, retry/cancel, in-process sandbox."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys

import httpx

from atroposd import __version__
from tests.support import Daemon, Emulator, Workspace, wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "atroposd", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"atroposd {__version__}"


def test_emulator_command_serves_the_control_api(ws: Workspace) -> None:
    port = _free_port()
    emu = Daemon(ws, ("emulator", "--host", "127.0.0.1", "--port", str(port)))
    try:
        url = f"http://127.0.0.1:{port}/_emulator/health"

        def healthy() -> bool:
            try:
                return httpx.get(url, timeout=1).json() == {"ok": True}
            except httpx.HTTPError:
                return False

        wait_for(healthy, 90, "emulator health")  # a child Python's start: 20 s ran out at load 23
        assert httpx.get(f"http://127.0.0.1:{port}/_emulator/posts").json() == []
    finally:
        assert emu.stop() == 0


def test_sandbox_starts_its_own_emulator_when_none_listens(ws: Workspace) -> None:
    ws.drop("solo", seed=80)
    port = _free_port()
    run = Daemon(ws, ("upload", "--once"), {"SANDBOX_URL": f"http://127.0.0.1:{port}"})
    assert run.wait() == 0, "".join(run.raw[-10:])
    (started,) = run.events("emulator_started")  # said once, by the emulator itself
    assert started["base_url"] == f"http://127.0.0.1:{port}"
    assert run.events("OK", clip="solo.mp4")
    warning = run.events("environment")[0]
    assert warning["environment"] == "sandbox" and warning["level"] == "warning"


def test_retry_and_cancel(ws: Workspace, emulator: Emulator) -> None:
    video = ws.drop("again", seed=81)
    emulator.fault("create", code=400)
    assert Daemon(ws, ("upload", "--once")).wait() == 1
    listing = Daemon(ws, ("posts", "--json", "--state", "failed"))
    assert listing.wait() == 0
    (post,) = json.loads("".join(listing.raw))
    retry = Daemon(ws, ("retry", str(post["id"])))
    assert retry.wait() == 0 and "failed -> ready" in "".join(retry.raw)
    assert Daemon(ws, ("upload", "--once")).wait() == 0
    assert len(emulator.posts()) == 1 and not video.exists()
    cancel = Daemon(ws, ("cancel", str(post["id"])))
    assert cancel.wait() == 1 and "published; cannot cancel" in "".join(cancel.stderr)
    missing = Daemon(ws, ("retry", "999"))
    assert missing.wait() == 1 and "no post with id 999" in "".join(missing.stderr)


def test_delete_uploaded_clips_removes_instead_of_archiving(
    ws: Workspace, emulator: Emulator
) -> None:
    video = ws.drop("gone", seed=82)
    run = Daemon(ws, ("upload", "--once"), {"DELETE_UPLOADED_CLIPS": "true"})
    assert run.wait() == 0
    assert run.events("clip_deleted")
    assert not video.exists() and not video.with_suffix(".txt").exists()
    assert not (ws.posted / "gone.mp4").exists()
    assert len(emulator.posts()) == 1


def test_youtube_hosts_are_settings(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("hosts", seed=83)
    base = f"{emulator.url}/youtube"
    env = {
        "SANDBOX_URL": f"http://127.0.0.1:{_free_port()}",  # an idle emulator of our own
        "YOUTUBE_TOKEN_URL": f"{base}/token",
        "YOUTUBE_UPLOAD_BASE": f"{base}/upload/youtube/v3/videos",
        "YOUTUBE_API_BASE": f"{base}/youtube/v3",
    }
    run = Daemon(ws, ("upload", "--once"), env)
    assert run.wait() == 0, "".join(run.raw[-10:])
    assert [p["title"] for p in emulator.posts()] == ["Clip hosts"]


def _handle(ws: Workspace, post_id: int) -> tuple[str | None, str | None, str]:
    with sqlite3.connect(ws.state / "ledger.sqlite3") as db:
        row = db.execute(
            "SELECT remote_ref, remote_id, state FROM posts WHERE id = ?", (post_id,)
        ).fetchone()
    return row[0], row[1], row[2]


def test_retry_of_a_failed_post_keeps_its_saved_handle(ws: Workspace, emulator: Emulator) -> None:
    """Bytes may have reached the platform before it gave up: the handle is how we ask."""
    ws.drop("handled", seed=84)
    emulator.fault("chunk", code=400)  # the session exists, then the platform refuses
    assert Daemon(ws, ("upload", "--once")).wait() == 1
    listing = Daemon(ws, ("posts", "--json", "--state", "failed"))
    assert listing.wait() == 0
    (post,) = json.loads("".join(listing.raw))
    ref, _, _ = _handle(ws, post["id"])
    assert ref, "the failed post saved its upload session"
    retry = Daemon(ws, ("retry", str(post["id"])))
    assert retry.wait() == 0 and "failed -> ready" in "".join(retry.raw)
    assert _handle(ws, post["id"]) == (ref, post["remote_id"], "ready")
    assert Daemon(ws, ("upload", "--once")).wait() == 0
    assert len(emulator.posts()) == 1


def test_post_ids_beyond_the_ledger_range_are_no_such_post(ws: Workspace) -> None:
    for command in ("retry", "cancel"):
        for post_id in ("99999999999999999999999", "0", "-5"):
            run = Daemon(ws, (command, post_id))
            code = run.wait()
            err = "".join(run.stderr)
            assert code == 1, err
            assert f"no post with id {int(post_id)}" in err and "Traceback" not in err


def test_emulator_on_a_taken_port_is_one_line_and_exit_2(ws: Workspace, emulator: Emulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    second = Daemon(ws, ("emulator", "--port", port))
    assert second.wait() == 2
    said = "".join(second.stderr)
    assert f"cannot serve the emulator on 127.0.0.1:{port}" in said and "Traceback" not in said


def test_resolve_takes_a_platform_id_that_starts_with_a_dash(ws: Workspace) -> None:
    """YouTube ids may start with ``-``: ``--posted -Hwgs8kncjE`` is the id, not an option."""
    run = Daemon(ws, ("resolve", "7", "--posted", "-Hwgs8kncjE"))
    code = run.wait()
    err = "".join(run.stderr)
    assert "expected one argument" not in err, err
    assert code == 1 and "no post with id 7" in err, err
