"""Which account a file belongs to, from where it sits under a watched root. Pure.

Two kinds of roots:

* the upload folder (``UPLOAD_FOLDER``): a file directly in it belongs to the default
  account; ``<upload>/<account>/...`` (any depth) belongs to ``<account>``;
* the Atropos output root (``OUT_ROOT``): ``<out>/<account>/<project>/...`` (any depth)
  belongs to ``<account>``. A video directly in ``<out>`` or ``<out>/<account>`` has no
  project level and is rejected (reported once, left alone) rather than guessed.

A path with a hidden component (``.name``) below the root is ignored, like hidden files.
An account folder name must match ``ACCOUNT_RE``; anything else is rejected with a reason.
When the roots nest, the innermost root decides. Symlinks are judged on their real target:
a target outside every watched root is rejected (see ``Roots.outside``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from atroposd.domain import ClipFiles

ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SYMLINK_OUTSIDE = "symlink points outside the watched folders"
_CACHE_SIZE = 65536


class RootKind(Enum):
    """How a watched root maps paths to accounts."""

    UPLOAD = "upload"
    OUT = "out"


@dataclass(frozen=True)
class Root:
    """One watched folder (absolute, as configured) and its real path."""

    path: Path
    kind: RootKind
    real: Path


@dataclass(frozen=True)
class Location:
    """Where an accepted file belongs."""

    root: Path
    account: str


@dataclass(frozen=True)
class Rejected:
    """A file the watcher must leave alone, and why."""

    reason: str


def valid_account(name: str) -> bool:
    """True when ``name`` can be used as an account folder name."""
    return name not in {".", ".."} and ACCOUNT_RE.fullmatch(name) is not None


class Roots:
    """The watched roots and the path -> account rules."""

    def __init__(self, *, upload_folder: Path, out_root: Path, default_account: str) -> None:
        self.default_account = default_account
        roots = [
            _root(upload_folder, RootKind.UPLOAD),
            _root(out_root, RootKind.OUT),
        ]
        # Innermost first, so a root nested in another one wins; drop exact duplicates.
        unique = {r.path: r for r in reversed(roots)}
        self.roots: tuple[Root, ...] = tuple(
            sorted(unique.values(), key=lambda r: len(r.path.parts), reverse=True)
        )
        self._cache: dict[Path, Location | Rejected | None] = {}

    @property
    def paths(self) -> tuple[Path, ...]:
        """The root folders to watch and scan."""
        return tuple(r.path for r in self.roots)

    def root_of(self, path: Path) -> Root | None:
        """The innermost root ``path`` lies under, by its spelling (no file system access)."""
        for root in self.roots:
            if path.is_relative_to(root.path):
                return root
        return None

    def locate(self, path: Path) -> Location | Rejected | None:
        """The account of a file; None when it is not ours to look at (outside, hidden)."""
        return self.locate_in(path.parent)

    def locate_in(self, folder: Path) -> Location | Rejected | None:
        """The account of the files directly in ``folder`` (cached: scans ask per file)."""
        try:
            return self._cache[folder]
        except KeyError:
            pass
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        where = self._cache[folder] = self._locate_in(folder)
        return where

    def _locate_in(self, folder: Path) -> Location | Rejected | None:
        root = self.root_of(folder)
        if root is None:
            return None
        parts = folder.relative_to(root.path).parts
        if any(p.startswith(".") for p in parts):
            return None
        if root.kind is RootKind.UPLOAD:
            if not parts:
                return Location(root.path, self.default_account)
        elif len(parts) < 2:
            return Rejected("not in a project folder: expected <out>/<account>/<project>/<clip>")
        account = parts[0]
        if not valid_account(account):
            return Rejected(
                f"invalid account folder name {account!r}: use up to 64 letters, digits, "
                "'.', '_' or '-', starting with a letter or digit"
            )
        return Location(root.path, account)

    def outside(self, real: Path) -> bool:
        """True when a resolved path lies outside every watched root."""
        return not any(real.is_relative_to(r.real) for r in self.roots)

    def clip_files(self, video: Path, caption: Path, sidecar: Path | None) -> ClipFiles | None:
        """The ``ClipFiles`` for a ready pair, or None when the video has no valid location."""
        where = self.locate(video)
        if not isinstance(where, Location):
            return None
        return ClipFiles(video, caption, sidecar, where.root, where.account)


def _root(path: Path, kind: RootKind) -> Root:
    absolute = Path(os.path.abspath(path))
    return Root(absolute, kind, Path(os.path.realpath(absolute)))
