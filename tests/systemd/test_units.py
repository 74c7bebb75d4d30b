"""The shipped units: ``systemd-analyze verify`` passes on both, ``systemd-analyze security``
rates the system unit's exposure at most 1.5 (the figure the README states), and the lines the
daemon relies on are there (notify, watchdog, reload, stop timeout above the grace)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from atroposd.app import SHUTDOWN_GRACE_SECONDS
from atroposd.config import Settings
from tests.support import REPO

SYSTEM = REPO / "systemd" / "system" / "atroposd.service"
USER = REPO / "systemd" / "user" / "atroposd.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
EXE = Path(os.path.realpath(shutil.which("atroposd") or REPO / ".venv" / "bin" / "atroposd"))


def keys(unit: Path) -> dict[str, list[str]]:
    """The unit's ``Key=value`` lines (comments left out), values by key."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def _analyze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A HOME where the user unit's ExecStart (%h/atroposd/.venv/bin/atroposd) exists."""
    home = tmp_path / "home"
    (home / "atroposd" / ".venv" / "bin").mkdir(parents=True)
    (home / "atroposd" / ".venv" / "bin" / "atroposd").symlink_to(EXE)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    return {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}


def _exposure(output: str) -> float:
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert match, output[-500:]
    return float(match.group(1))


@needs_analyze
def test_the_system_unit_verifies(tmp_path: Path) -> None:
    unit = tmp_path / "atroposd.service"  # its ExecStart pointed at this checkout's atroposd
    unit.write_text(SYSTEM.read_text().replace("/opt/atroposd/bin/atroposd", str(EXE)))
    done = _analyze("verify", str(unit))
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


@needs_analyze
def test_the_user_unit_verifies(tmp_path: Path) -> None:
    done = _analyze("--user", "verify", str(USER), env=_user_env(tmp_path))
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr


@needs_analyze
def test_the_system_units_exposure_is_at_most_1_5_as_the_readme_says() -> None:
    done = _analyze("security", "--offline=yes", "--no-pager", str(SYSTEM))
    score = _exposure(done.stdout + done.stderr)
    assert score <= 1.5
    readme = (REPO / "README.md").read_text()
    assert f"exposure {score:.1f}" in readme, "the README states another score"


@needs_analyze
def test_the_user_unit_is_rated_too(tmp_path: Path) -> None:
    done = _analyze(
        "--user", "security", "--offline=yes", "--no-pager", str(USER), env=_user_env(tmp_path)
    )
    assert _exposure(done.stdout + done.stderr) <= 3.0  # what a user manager allows


@pytest.mark.parametrize("unit", [SYSTEM, USER], ids=["system", "user"])
def test_both_units_notify_watch_reload_and_stop_in_time(unit: Path) -> None:
    k = keys(unit)
    assert k["Type"] == ["notify"] and k["NotifyAccess"] == ["main"]
    assert k["WatchdogSec"] == ["60"]
    assert k["Restart"] == ["on-failure"] and k["RestartPreventExitStatus"] == ["2"]
    assert k["StartLimitBurst"] and k["StartLimitIntervalSec"]
    assert k["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    # The uploads' grace, then up to SHUTDOWN_GRACE_SECONDS for refreshes and archive moves.
    grace = Settings.model_fields["shutdown_grace"].default
    assert int(k["TimeoutStopSec"][0]) > grace + SHUTDOWN_GRACE_SECONDS + 10
    (cred,) = k["LoadCredential"]
    assert cred.startswith("token_fernet_key:")
    assert "--env-file" in k["ExecStart"][0] and k["ExecStart"][0].endswith(" run")
    assert k["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert k["SystemCallFilter"][0] == "@system-service" and k["CapabilityBoundingSet"] == [""]


def test_the_system_unit_runs_as_its_own_user_with_private_files() -> None:
    k = keys(SYSTEM)
    assert k["User"] == ["atroposd"] and k["StateDirectory"] == ["atroposd"]
    assert k["UMask"] == ["0077"] and k["ProtectSystem"] == ["strict"]
    assert k["EnvironmentFile"] and k["WorkingDirectory"] == ["/srv/atroposd"]
    assert k["ReadWritePaths"] == [k["WorkingDirectory"][0]]  # the queue, out/ and posted/
    assert "TOKEN_FERNET_KEY" not in SYSTEM.read_text()  # a credential, not the environment
