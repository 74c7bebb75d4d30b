"""The daemon's notifications: a hook that is down (hanging, or refusing connections) does not
delay posting, and neither the hook URL (which may hold a token) nor any secret reaches the
log."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest

from tests.schedule.hook import Hook, hook_server, refused_url
from tests.support import Daemon, Emulator, Workspace, wait_for


@contextlib.contextmanager
def down_hook(kind: str) -> Iterator[tuple[str, Hook | None]]:
    """A hook that accepts and never answers, or an address where nothing listens."""
    if kind == "hanging":
        with hook_server(hang=True) as hook:
            yield hook.url, hook
    else:
        yield refused_url() + "?token=s3cr3t-hook", None


@pytest.mark.parametrize("kind", ["hanging", "refused"])
def test_a_hook_that_is_down_does_not_delay_posting(
    ws: Workspace, emulator: Emulator, kind: str
) -> None:
    cfg = json.loads(ws.config_path.read_text())
    # A second account in slots mode with nothing queued: warned at start (0 days left).
    cfg["accounts"]["spare"] = {
        "schedule": {"timezone": "UTC", "slots": {"daily": ["09:00"]}},
        "platforms": {"youtube": {"enabled": True}},
    }
    ws.config_path.write_text(json.dumps(cfg))
    emulator.fault("create", code=400)  # the first clip fails for good: a "failed" notice
    with down_hook(kind) as (url, hook):
        daemon = Daemon(ws, extra_env={"NOTIFY_WEBHOOK_URL": url, "RUNOUT_WARN_DAYS": "3"})
        try:
            warned = daemon.wait_event("queue_running_out")[0]
            assert warned["account"] == "spare" and warned["days_left"] == 0.0
            if hook is not None:
                wait_for(lambda: hook.hanging >= 1, 30, "the hook holding the warning")
            ws.drop("refused", seed=401)
            daemon.wait_event("ERR", clip="refused.mp4")
            ws.drop("posted", seed=402)
            daemon.wait_event("OK", clip="posted.mp4")
            # Posted while the first notice is still undelivered (held, or being retried).
            assert not daemon.events("notify_sent")
            if hook is not None:
                assert hook.hanging >= 1 and hook.bodies == []
            assert not daemon.events("task_failed")
        finally:
            assert daemon.stop() == 0
    assert len(emulator.posts()) == 1
    log = "".join(daemon.raw) + "".join(daemon.stderr)
    assert "s3cr3t-hook" not in log and "/hook?" not in log
