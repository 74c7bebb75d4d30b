"""The daemon's notifications: a hook that hangs does not delay posting, and neither the hook
URL (which may hold a token) nor any secret reaches the log."""

from __future__ import annotations

import json

from tests.schedule.hook import hook_server
from tests.support import Daemon, Emulator, Workspace, wait_for


def test_a_hanging_hook_does_not_delay_posting(ws: Workspace, emulator: Emulator) -> None:
    cfg = json.loads(ws.config_path.read_text())
    # A second account in slots mode with nothing queued: warned at start (0 days left).
    cfg["accounts"]["spare"] = {
        "schedule": {"timezone": "UTC", "slots": {"daily": ["09:00"]}},
        "platforms": {"youtube": {"enabled": True}},
    }
    ws.config_path.write_text(json.dumps(cfg))
    emulator.fault("create", code=400)  # the first clip fails for good: a "failed" notice
    with hook_server(hang=True) as hook:
        daemon = Daemon(ws, extra_env={"NOTIFY_WEBHOOK_URL": hook.url, "RUNOUT_WARN_DAYS": "3"})
        try:
            warned = daemon.wait_event("queue_running_out")[0]
            assert warned["account"] == "spare" and warned["days_left"] == 0.0
            wait_for(lambda: hook.hanging >= 1, 30, "the hook holding the warning")
            ws.drop("refused", seed=401)
            daemon.wait_event("ERR", clip="refused.mp4")
            ws.drop("posted", seed=402)
            daemon.wait_event("OK", clip="posted.mp4")
            # Posted while the hook still holds its first request, unanswered.
            assert hook.hanging >= 1 and hook.bodies == []
            assert not daemon.events("task_failed")
        finally:
            assert daemon.stop() == 0
    assert len(emulator.posts()) == 1
    log = "".join(daemon.raw) + "".join(daemon.stderr)
    assert "s3cr3t-hook" not in log and "/hook?" not in log
