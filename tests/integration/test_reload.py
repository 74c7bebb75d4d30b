"""SIGHUP: the daemon reads .env and upload_config.json again without a restart.

A config that does not load is refused with one ERR line naming the problem, and the running
config goes on posting; a new account is watched at once (a clip already waiting in its folder
too); a setting that needs a restart is named and keeps its value; a .env value that
EnvironmentFile= also put in the environment follows the file; RELOADING=1 ... READY=1 around
each reload."""

from __future__ import annotations

import json
import signal

from tests.support import Daemon, Emulator, Workspace
from tests.systemd.listener import NotifyListener


def _reload(daemon: Daemon, listener: NotifyListener, n: int) -> None:
    daemon.proc.send_signal(signal.SIGHUP)
    listener.wait("RELOADING", "1", count=n)
    listener.wait("READY", "1", count=n + 1)  # the start's, then one per reload


def test_a_broken_config_is_refused_and_a_new_account_is_watched(
    ws: Workspace, emulator: Emulator
) -> None:
    good = json.loads(ws.config_path.read_text())
    env = ws.root / ".env"
    start = env.read_text()
    env.write_text(start + "MAX_ATTEMPTS=16\n")
    listener = NotifyListener()
    # As systemd's EnvironmentFile= does: the .env's values are in the environment too.
    daemon = Daemon(ws, extra_env={**listener.env, "MAX_ATTEMPTS": "16"})
    try:
        listener.wait("READY", "1")
        ws.config_path.write_text('{"accounts": {"default": ')  # cut short by an editor
        _reload(daemon, listener, 1)
        (err,) = daemon.events("ERR", reload="refused")
        assert str(ws.config_path) in err["error"] and "not valid JSON" in err["error"]
        assert not daemon.events("reload_done")
        ws.drop("still", seed=51)  # the running config still posts
        daemon.wait_event("OK", account="default", platform="youtube")

        ws.drop("waiting", seed=52, folder=ws.queue / "brand2")  # not an account yet
        daemon.wait_event("clip_problem")
        good["accounts"]["brand2"] = {"platforms": {"youtube": {"enabled": True}}}
        ws.config_path.write_text(json.dumps(good))
        _reload(daemon, listener, 2)
        (done,) = daemon.events("reload_done")
        assert "brand2" in done["accounts"]
        daemon.wait_event("OK", account="brand2", platform="youtube")  # the waiting clip
        ws.drop("later", seed=53, folder=ws.queue / "brand2")
        daemon.wait_event("OK", count=2, account="brand2", platform="youtube")

        env.write_text(start + f"STATE_DIR={ws.root / 'elsewhere'}\nMAX_ATTEMPTS=3\n")
        _reload(daemon, listener, 3)
        (needed,) = daemon.events("reload_restart_needed")
        # MAX_ATTEMPTS follows the file (the environment only held the value the file had at
        # start); STATE_DIR is the environment's own (the Workspace's), which wins.
        assert needed["settings"] == ["MAX_ATTEMPTS"]
    finally:
        assert daemon.stop() == 0
        listener.close()
    assert len(emulator.posts()) == 3
    assert len(daemon.events("ERR")) == 1
