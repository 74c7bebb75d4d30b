"""Accounts come from the folder: upload_queue/<account>/, out/<account>/<project>/."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.support import Daemon, Emulator, Workspace, sha256


def _two_accounts(ws: Workspace) -> None:
    path = ws.root / "upload_config.json"
    config = json.loads(path.read_text())
    config["accounts"]["client-b"] = {
        "display_name": "Client B",
        "platforms": {"youtube": {"enabled": True, "privacy": "unlisted"}},
    }
    path.write_text(json.dumps(config))


def test_each_folder_posts_to_its_own_account(ws: Workspace, emulator: Emulator) -> None:
    _two_accounts(ws)
    plain = ws.drop("plain", seed=70)
    queued = ws.drop("queued", seed=71, folder=ws.queue / "client-b")
    project = ws.drop("short", seed=72, folder=ws.out / "client-b" / "talk_20261101" / "shorts")
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    by_sha = {p["sha256"]: p["account"] for p in emulator.posts()}
    assert by_sha == {
        sha256(ws.posted / "plain.mp4"): "default",
        sha256(ws.posted / "client-b" / "queued.mp4"): "client-b",
        sha256(ws.posted / "client-b" / "talk_20261101" / "shorts" / "short.mp4"): "client-b",
    }
    assert not plain.exists() and not queued.exists() and not project.exists()
    clips = {ln["clip"]: ln["account"] for ln in run.events("OK")}
    assert clips == {
        "plain.mp4": "default",
        "client-b/queued.mp4": "client-b",
        "client-b/talk_20261101/shorts/short.mp4": "client-b",
    }


def test_same_video_for_two_accounts_is_posted_once_each(ws: Workspace, emulator: Emulator) -> None:
    _two_accounts(ws)
    video = ws.drop("shared", seed=73)
    (ws.queue / "client-b").mkdir()
    (ws.queue / "client-b" / "shared.mp4").write_bytes(video.read_bytes())
    (ws.queue / "client-b" / "shared.txt").write_text("Shared clip\n")
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0
    assert sorted(p["account"] for p in emulator.posts()) == ["client-b", "default"]


def test_sidecar_overrides_title_and_platforms(ws: Workspace, emulator: Emulator) -> None:
    ws.drop("side", seed=74, caption="Caption line\n\n#shorts\n")
    (ws.queue / "side.json").write_text(
        json.dumps(
            {
                "title": "Shared title",
                "youtube": {"title": "YouTube title"},
                "publish_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
            }
        )
    )
    ws.drop("skip", seed=75)
    (ws.queue / "skip.json").write_text(json.dumps({"platforms": []}))
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:])
    (post,) = emulator.posts()
    assert post["title"] == "YouTube title" and post["caption"].startswith("Caption line")
    # Natively scheduled (YouTube publishAt): the files stay until publication is confirmed.
    assert '"event": "SCHEDULED"' in "".join(run.raw)
    assert (ws.queue / "side.json").exists()
    assert (ws.queue / "skip.mp4").exists()
