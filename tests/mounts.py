"""A private tmpfs for one daemon process: a read-only folder or a small disk, without root.

``unshare --user --map-root-user --mount`` gives the child its own mount namespace, so the
mount is seen by the daemon only, and is gone when it exits. The test reaches the daemon's
view through ``/proc/<pid>/root``.
"""

from __future__ import annotations

import errno
import shutil
import subprocess
from pathlib import Path


def private_mounts() -> bool:
    """True when this machine lets an unprivileged user namespace mount a tmpfs."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs x /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


def tmpfs(path: Path, options: str, full: bool = False) -> tuple[str, ...]:
    """A ``Daemon`` wrap that mounts an empty tmpfs with ``options`` on ``path`` for the child.

    With ``full`` a hidden file takes all of its room before the child starts.
    """
    script = f'mount -t tmpfs -o {options} atroposd-test "$0" || exit 32\n'
    if full:
        script += 'cat /dev/zero > "$0/.filler" 2>/dev/null\n'
    script += 'exec "$@"'
    return ("unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, str(path))


def seen_by(pid: int, path: Path) -> Path:
    """``path`` as the process ``pid`` sees it (through its own mounts)."""
    return Path(f"/proc/{pid}/root") / path.relative_to("/")


def fill(path: Path) -> int:
    """Write zeros to ``path`` until its filesystem is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                written += out.write(b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return written
