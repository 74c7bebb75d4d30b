"""Start-up problems a new user meets: one plain line naming the folder or URL, exit code 2.

Exit code 2 is the one the systemd unit does not restart on (``RestartPreventExitStatus=2``);
before these checks a folder problem was a traceback and exit 1, restarted every 10 s forever.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.mounts import private_mounts, tmpfs
from tests.support import REPO, Daemon, Emulator, Workspace

UNIT = REPO / "systemd" / "user" / "atroposd.service"


def _refused(run: Daemon, *names: str) -> str:
    """The run exits 2 with one line on stderr that names each of ``names``; that line."""
    code = run.wait(60)
    err = "".join(run.stderr)
    assert code == 2, err + "".join(run.raw[-5:])
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _unit() -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines (comments left out), values by key."""
    keys: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_the_unit_does_not_restart_on_exit_code_2() -> None:
    unit = _unit()
    assert unit["Restart"] == ["on-failure"] and unit["RestartPreventExitStatus"] == ["2"]


def test_the_user_unit_says_only_what_works_in_a_user_unit() -> None:
    unit = _unit()
    ordering = unit.get("After", []) + unit.get("Wants", []) + unit.get("Requires", [])
    assert not [t for t in ordering if "network-online" in t], "no effect in a user unit"
    assert unit["WantedBy"] == ["default.target"]
    ops = (REPO / "docs" / "operations.md").read_text()
    assert "loginctl enable-linger" in ops and "loginctl enable-linger" in UNIT.read_text()


def test_under_the_units_umask_clips_stay_readable_and_secrets_private(
    ws: Workspace, emulator: Emulator
) -> None:
    (umask,) = _unit()["UMask"]
    shell = ("sh", "-c", f'umask {umask} && exec "$@"', "sh")
    ws.drop("shared", seed=91)
    assert Daemon(ws, ("upload", "--once"), wrap=shell).wait() == 0
    assert len(emulator.posts()) == 1
    for made in (ws.posted, ws.posted / "shared.mp4", ws.posted / "shared.txt"):
        assert made.stat().st_mode & 0o044 == 0o044, f"{made} is not readable by others"
    for private in (ws.state, ws.root / "tokens"):
        assert private.stat().st_mode & 0o777 == 0o700, f"{private} is not 0700"
    for secret in (ws.root / "tokens").rglob("*"):
        if secret.is_file():
            assert secret.stat().st_mode & 0o077 == 0, f"{secret} is readable by others"


def test_state_dir_that_is_a_file(ws: Workspace) -> None:
    ws.state.write_text("not a folder")
    for args in (("run",), ("upload", "--once"), ("posts",), ("retry", "1")):
        line = _refused(Daemon(ws, args), "STATE_DIR", str(ws.state))
        assert "not a folder" in line


def test_upload_folder_that_cannot_be_created(ws: Workspace) -> None:
    blocker = ws.root / "drive"
    blocker.write_text("a file where a folder should be")
    env = {"UPLOAD_FOLDER": str(blocker / "queue")}
    for args in (("run",), ("upload", "--once"), ("upload", "--once", "--dry-run")):
        line = _refused(Daemon(ws, args, env), "UPLOAD_FOLDER", str(blocker / "queue"))
        assert "cannot create it: Not a directory" in line
    assert not ws.state.exists(), "nothing was written before the folders were checked"


def test_watched_folder_link_to_a_missing_drive(ws: Workspace) -> None:
    link = ws.root / "usb"
    link.symlink_to(ws.root / "media" / "usb-drive")
    line = _refused(Daemon(ws, ("run",), {"OUT_ROOT": str(link)}), "OUT_ROOT", str(link))
    assert "missing (not mounted?)" in line


@pytest.mark.skipif(not private_mounts(), reason="no user namespaces with mounts here")
def test_state_dir_on_a_read_only_filesystem(ws: Workspace) -> None:
    ws.state.mkdir()  # the mount point; the daemon sees an empty read-only tmpfs there
    run = Daemon(ws, ("run",), wrap=tmpfs(ws.state, "ro,size=1m"))
    line = _refused(run, "STATE_DIR", str(ws.state))
    assert "not writable: Read-only file system" in line


def test_a_ledger_that_is_not_a_database(ws: Workspace) -> None:
    ws.state.mkdir()
    (ws.state / "ledger.sqlite3").write_bytes(b"this is not an SQLite file at all" * 100)
    for args in (("run",), ("posts",)):
        line = _refused(Daemon(ws, args), "STATE_DIR", str(ws.state), "cannot open the ledger")
        assert "file is not a database" in line


@pytest.mark.skipif(not private_mounts(), reason="no user namespaces with mounts here")
def test_a_full_disk_at_start_is_one_line_and_exit_1(ws: Workspace) -> None:
    """Exit 1, so the unit tries again later: a full disk may clear by itself."""
    ws.state.mkdir()
    run = Daemon(ws, ("run",), wrap=tmpfs(ws.state, "size=64k", full=True))
    code = run.wait(60)
    err = "".join(run.stderr)
    assert code == 1, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"atroposd: disk full: cannot write {ws.state}"), line


class _NotTheEmulator(BaseHTTPRequestHandler):
    """Some other web server: it implements no method at all (HTTP 501 to everything)."""

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def stranger() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotTheEmulator)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_something_else_on_sandbox_url(ws: Workspace, stranger: str) -> None:
    ws.drop("early", seed=90)
    for args in (("run",), ("upload", "--once")):
        run = Daemon(ws, args, {"SANDBOX_URL": stranger})
        line = _refused(run, "SANDBOX_URL", stranger, "not the atroposd emulator", "HTTP 501")
        assert "free port" in line
        assert not run.events("ERR") and not run.events("daemon_started")
