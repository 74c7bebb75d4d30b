"""``atroposd demo`` as a new user runs it: from a folder with a ``.env``, and again later."""

from __future__ import annotations

import socket

from tests.support import Daemon, Workspace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_reads_the_env_file_and_reports_only_the_clips_it_made(ws: Workspace) -> None:
    ws.env = {}  # like a user's shell: only what ./.env says
    url = f"http://127.0.0.1:{_free_port()}"
    (ws.root / ".env").write_text(f"SANDBOX_URL={url}\nSETTLE_SECONDS=0.5\n", encoding="utf-8")
    first = Daemon(ws, ("demo", "--dir", "demo", "--clips", "1"))
    try:
        (started,) = first.wait_event("emulator_started", timeout=120)
        assert started["base_url"] == url  # the port .env named, not the default 8788
        first.wait_event("OK", clip="demo_clip_1.mp4", timeout=120)
        first.wait_event("clip_archived", timeout=60)
    finally:
        assert first.stop() == 0
    said = "".join(first.stderr)
    assert "1 new clip(s)" in said and str(ws.root / ".env") in said, said
    assert (ws.root / "demo" / "posted" / "demo_clip_1.mp4").exists()
    again = Daemon(ws, ("demo", "--dir", "demo", "--clips", "1"))
    try:
        again.wait_event("daemon_started", timeout=120)
    finally:
        assert again.stop() == 0
    said = "".join(again.stderr)
    assert "no new clips" in said and "1 from an earlier run" in said, said
