"""Bad input: one clear warning each, nothing lost, the daemon keeps posting the rest."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support import Daemon, Emulator, Workspace, make_clip, wait_for


def _problems(daemon: Daemon) -> dict[str, str]:
    return {ln["path"]: ln["reason"] for ln in daemon.events("clip_problem")}


def test_each_bad_input_is_reported_once_and_left_in_place(
    ws: Workspace, emulator: Emulator, tmp_path: Path
) -> None:
    q = ws.queue
    daemon = Daemon(ws, extra_env={"LOG_LEVEL": "debug"})
    try:
        daemon.wait_event("daemon_started")
        (q / "empty.mp4").write_bytes(b"")
        (q / "empty.txt").write_text("nothing here\n")
        ws.drop("latin", seed=31, caption="")
        (q / "latin.txt").write_bytes("Caf\xe9 cr\xe8me\n".encode("latin-1"))
        lonely = ws.drop("lonely", seed=32)
        (q / "lonely.txt").unlink()
        ws.drop("sidecar", seed=33)
        (q / "sidecar.json").write_text('{"title": "unterminated')
        outside = make_clip(tmp_path / "elsewhere" / "secret.mp4", seed=34)
        (q / "linked.txt").write_text("points outside\n")
        os.symlink(outside, q / "linked.mp4")
        ws.drop("clip", seed=35, folder=ws.out / "bad account!" / "project")
        expected = {
            q / "empty.mp4": "empty video",
            q / "latin.txt": "not UTF-8",
            lonely: "caption missing",
            q / "sidecar.json": "broken sidecar JSON",
            q / "linked.mp4": "outside the watched folders",
            ws.out / "bad account!" / "project" / "clip.mp4": "invalid account folder name",
        }

        def all_reported() -> bool:
            got = _problems(daemon)  # path -> reason; a bad caption is named in the reason
            return all(
                any((str(p) == k or str(p) in why) and w in why for k, why in got.items())
                for p, w in expected.items()
            )

        wait_for(all_reported, 30, "a warning for each bad input")
        # A good clip with an awkward name still goes through while the bad ones sit there.
        odd = "spaced ünïcode\nname"
        ws.drop(odd, seed=36, caption="Awkward name, fine clip\n")
        ok = daemon.wait_event("OK")[0]
        assert ok["clip"] == f"{odd}.mp4"
        wait_for(lambda: (ws.posted / f"{odd}.mp4").exists(), 30, "the good clip archived")
        assert len(emulator.posts()) == 1
        for path in expected:
            assert path.exists() or path.is_symlink(), f"{path} was touched"
        assert (q / "latin.mp4").exists() and (q / "sidecar.mp4").exists()
        assert daemon.events("PLAN") == daemon.events("PLAN", clip=f"{odd}.mp4")
        # Reported once, not on every rescan (RESCAN_SECONDS=5 in tests).
        scans = len(daemon.events("watch_rescan_done"))
        daemon.wait_event("watch_rescan_done", count=scans + 2, timeout=30)
        assert len(daemon.events("clip_problem")) == len(_problems(daemon))
        assert daemon.proc.poll() is None
    finally:
        assert daemon.stop() == 0


def test_fixed_caption_is_picked_up_after_the_warning(ws: Workspace, emulator: Emulator) -> None:
    daemon = Daemon(ws)
    try:
        daemon.wait_event("daemon_started")
        ws.drop("later", seed=37)
        (ws.queue / "later.txt").write_bytes(b"\xff\xfe broken")
        daemon.wait_event("clip_problem")
        tmp = ws.root / "later.txt.part"
        tmp.write_text("Fixed caption\n", encoding="utf-8")
        os.replace(tmp, ws.queue / "later.txt")
        daemon.wait_event("OK")
        assert [p["title"] for p in emulator.posts()] == ["Fixed caption"]
    finally:
        daemon.stop()


def test_broken_config_exits_2_with_one_plain_message(ws: Workspace) -> None:
    config = ws.root / "upload_config.json"
    data = json.loads(config.read_text())
    data["accounts"]["default"]["platforms"]["youtube"]["privacy"] = "everyone"
    config.write_text(json.dumps(data))
    run = Daemon(ws, ("run",))
    assert run.wait(30) == 2
    err = "".join(run.stderr)
    assert "upload_config.json" in err and "accounts.default.platforms.youtube.privacy" in err
    assert "Traceback" not in err
    config.write_text("{ not json")
    run = Daemon(ws, ("run",), {"RENDER_LAYOUT": "diagonal"})
    assert run.wait(30) == 2
    assert "RENDER_LAYOUT" in "".join(run.stderr) and "Traceback" not in "".join(run.stderr)


def test_second_daemon_on_same_state_dir_exits_with_clear_message(
    ws: Workspace, emulator: Emulator
) -> None:
    first = Daemon(ws)
    try:
        first.wait_event("daemon_started")
        second = Daemon(ws)
        assert second.wait(30) == 2
        assert "another atroposd" in "".join(second.stderr)
        assert first.proc.poll() is None
    finally:
        first.stop()


def test_production_without_its_secrets_exits_2_naming_them(ws: Workspace) -> None:
    run = Daemon(ws, ("run",), {"ENVIRONMENT": "production"})
    assert run.wait(30) == 2
    assert "TOKEN_FERNET_KEY" in "".join(run.stderr)
    key = "not-a-fernet-key-at-all"
    run = Daemon(ws, ("run",), {"ENVIRONMENT": "production", "TOKEN_FERNET_KEY": key})
    assert run.wait(30) == 2
    err = "".join(run.stderr)
    assert "not a valid Fernet key" in err and key not in err
    good = "9dU0ywJQ2bFQoLzX_8q3cUMb7mCwQvZsWr6Hhc4-Z1E="
    run = Daemon(ws, ("run",), {"ENVIRONMENT": "production", "TOKEN_FERNET_KEY": good})
    assert run.wait(30) == 2
    err = "".join(run.stderr)
    assert "YOUTUBE_CLIENT_ID" in err and "YOUTUBE_CLIENT_SECRET" in err
    assert "Traceback" not in err and good not in err
