"""``clips.json``: a list of windows to cut from the project's source video. Pure parsing.

Either a list of entries, or ``{"source": "<video name>", "clips": [entries]}`` when the
folder holds several videos. An entry is ``{start, end, caption, title?, layout?, context?}``
(seconds, text, text, a layout name, a fraction). Each window is cut with a lead-in and a
lead-out of ``context`` × its duration (``WINDOW_CONTEXT_PERCENTAGE`` when not given),
clamped to the source. Invalid entries are returned as problems one by one; the others go on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from atroposd.domain import VIDEO_SUFFIXES
from atroposd.errors import InputError

MANIFEST = "clips.json"
SLACK = 0.05  # seconds past the probed end still accepted (container rounding)


class Entry(BaseModel):
    """One window of a manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: float = Field(ge=0)
    end: float
    caption: str = Field(min_length=1)
    title: str | None = None
    layout: str | None = None
    context: float | None = Field(default=None, ge=0, le=1)


@dataclass(frozen=True)
class Window:
    """A valid entry: what to cut (context included) and what to call it."""

    number: int  # 1-based, as a person counts entries
    entry: Entry
    cut_start: float
    cut_end: float

    @property
    def stem(self) -> str:
        """The short's file name without suffix (the original's ``clip_<start>-<end>``)."""
        return f"clip_{self.entry.start:.2f}-{self.entry.end:.2f}"

    @property
    def where(self) -> str:
        """How messages name this entry."""
        return f"{MANIFEST} entry {self.number}"


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: the source it names (or None) and its raw entries."""

    source: str | None
    entries: list[Any]


def read_manifest(path: Path) -> Manifest:
    """Parse ``clips.json``; ``InputError`` when the file as a whole cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(data, list):
        return Manifest(None, data)
    if isinstance(data, dict) and isinstance(data.get("clips"), list):
        source = data.get("source")
        if source is not None and (not isinstance(source, str) or "/" in source):
            raise InputError(f"{path}: 'source' must be a file name in the same folder")
        return Manifest(source, data["clips"])
    raise InputError(f"{path}: expected a list of clips, or {{'source': ..., 'clips': [...]}}")


def find_source(folder: Path, named: str | None) -> Path:
    """The project's source video: the one named, else the only video in the folder, else
    ``<folder name>.mp4``."""
    if named is not None:
        path = folder / named
        if not path.is_file():
            raise InputError(f"{folder / MANIFEST}: source {named!r} not found")
        return path
    videos = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    if len(videos) == 1:
        return videos[0]
    preferred = folder / f"{folder.name}.mp4"
    if preferred in videos:
        return preferred
    found = "no video" if not videos else f"{len(videos)} videos"
    raise InputError(
        f'{folder / MANIFEST}: {found} beside it; name one: {{"source": "<file>", "clips": [...]}}'
    )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "entry"
    return f"{field}: {err['msg']}"


def windows(
    raw: list[Any], duration: float, context: float
) -> tuple[list[Window], list[tuple[int, str]]]:
    """Valid windows and (entry number, reason) for each invalid entry."""
    good: list[Window] = []
    bad: list[tuple[int, str]] = []
    stems: dict[str, int] = {}
    for number, item in enumerate(raw, start=1):
        try:
            entry = Entry.model_validate(item)
        except ValidationError as exc:
            bad.append((number, _first_error(exc)))
            continue
        if not entry.caption.strip():
            bad.append((number, "caption: is empty"))
            continue
        if entry.end <= entry.start:
            bad.append((number, f"end {entry.end:g} s does not come after start {entry.start:g} s"))
            continue
        if entry.end > duration + SLACK:
            bad.append(
                (number, f"end {entry.end:g} s is outside the source ({duration:.2f} s long)")
            )
            continue
        pad = (entry.end - entry.start) * (context if entry.context is None else entry.context)
        window = Window(number, entry, max(0.0, entry.start - pad), min(duration, entry.end + pad))
        if window.stem in stems:
            bad.append((number, f"the same window as entry {stems[window.stem]}"))
            continue
        stems[window.stem] = number
        good.append(window)
    return good, bad
