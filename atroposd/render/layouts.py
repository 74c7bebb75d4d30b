"""Layouts as data (layer 1): JSON files, built-ins in the package, user ones in LAYOUTS_DIR.

A layout says how one source video becomes a 1080×1920 frame:

- ``background``: ``blur`` (the source scaled to cover the canvas, Gaussian ``sigma`` in
  canvas pixels, ``brightness`` as a multiplier: 0.55 dims to 55 %), ``color`` (a hex fill)
  or ``none`` (black);
- ``foreground``: ``fit: height`` scales the source to ``height`` × canvas height (aspect kept)
  and crops it to the canvas width at ``align`` (center / left / right); ``fit: width`` scales
  the whole source down to the canvas (never up), nothing cropped. Its vertical centre sits at
  ``center_y`` × canvas height;
- ``tiles``: extra crops of the source (``region`` in fractions of the source) scaled to
  ``width`` × canvas width, placed ``margin`` × canvas width from the top-left/right corner.

A source already vertical (aspect ≤ 9:16 + ``vertical_tolerance``) is scaled to the canvas
with no background, whatever the layout. A user file ``<LAYOUTS_DIR>/<name>.json`` with the
name of a built-in replaces it.
"""

from __future__ import annotations

import contextlib
import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from atroposd.render.errors import LayoutError

CANVAS = (1080, 1920)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Background(_Model):
    """What fills the canvas behind the foreground."""

    kind: Literal["blur", "color", "none"] = "blur"
    sigma: float = Field(default=40.0, ge=0, le=400)  # Gaussian blur, in canvas pixels
    brightness: float = Field(default=0.55, ge=0, le=1)
    color: str = Field(default="#000000", pattern=r"^#[0-9A-Fa-f]{6}$")


class Foreground(_Model):
    """The main picture."""

    fit: Literal["height", "width"] = "height"
    height: float = Field(default=0.4, gt=0, le=1)  # fit=height: fraction of the canvas height
    center_y: float = Field(default=0.46, ge=0, le=1)
    align: Literal["center", "left", "right"] = "center"


class Region(_Model):
    """A rectangle of the source, in fractions of its width and height."""

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _inside(self) -> Region:
        if self.x + self.width > 1.0001 or self.y + self.height > 1.0001:
            raise ValueError("region must lie inside the source (x + width ≤ 1, y + height ≤ 1)")
        return self


class Tile(_Model):
    """A crop of the source shown near a top corner (a face-cam)."""

    region: Region
    width: float = Field(default=0.475, gt=0, le=1)  # fraction of the canvas width
    side: Literal["left", "right"]
    margin: float = Field(
        default=0.02, ge=0, le=0.5
    )  # fraction of the canvas width, from both edges


class Layout(_Model):
    """One layout file."""

    name: str = Field(pattern=_NAME)
    description: str = ""
    background: Background = Background()
    foreground: Foreground = Foreground()
    tiles: tuple[Tile, ...] = ()
    vertical_tolerance: float = Field(default=0.02, ge=0, le=1)

    def fingerprint(self) -> str:
        """The layout's definition as canonical JSON (part of the render cache key)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def _parse(text: str, where: str) -> Layout:
    try:
        return Layout.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise LayoutError(f"{where}: {loc}: {first['msg']}") from None


def builtin_layouts() -> dict[str, Layout]:
    """The layouts shipped in the package (``render/layouts/*.json``)."""
    found: dict[str, Layout] = {}
    folder = resources.files("atroposd.render").joinpath("layouts")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            layout = _parse(entry.read_text(encoding="utf-8"), f"built-in {entry.name}")
            found[layout.name] = layout
    return found


def load_layouts(layouts_dir: Path | None) -> dict[str, Layout]:
    """Built-ins, then ``<layouts_dir>/*.json`` (a user file replaces a built-in of its name)."""
    found = builtin_layouts()
    if layouts_dir is None:
        return found
    if not layouts_dir.is_dir():
        raise LayoutError(f"LAYOUTS_DIR {layouts_dir}: not a folder")
    for path in sorted(layouts_dir.glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LayoutError(f"{path}: cannot read: {exc}") from None
        layout = _parse(text, str(path))
        if layout.name != path.stem:
            raise LayoutError(f"{path}: name {layout.name!r} must match the file name")
        found[layout.name] = layout
    return found


def known_layout_name(name: str, layouts_dir: Path | None) -> str:
    """``name`` when it is a built-in layout or a ``<name>.json`` in ``layouts_dir``; else
    ``ValueError`` listing the names there are (RENDER_LAYOUT is checked with this at start)."""
    names = set(builtin_layouts())
    if layouts_dir is not None:
        with contextlib.suppress(OSError):
            names |= {p.stem for p in layouts_dir.glob("*.json") if not p.name.startswith(".")}
    if name in names:
        return name
    where = f" or a {name}.json in LAYOUTS_DIR {layouts_dir}" if layouts_dir else ""
    known = ", ".join(sorted(names))
    msg = f"unknown layout {name!r}: not a built-in layout{where} (known: {known})"
    raise ValueError(msg)


class Layouts:
    """The known layouts and the rule that picks one: clip > account > RENDER_LAYOUT."""

    def __init__(self, layouts: dict[str, Layout], default: str) -> None:
        self.by_name = layouts
        self.default = self.get(default, "RENDER_LAYOUT")

    @classmethod
    def load(cls, layouts_dir: Path | None, default: str) -> Layouts:
        """Built-ins plus LAYOUTS_DIR, with RENDER_LAYOUT as the default."""
        return cls(load_layouts(layouts_dir), default)

    def get(self, name: str, where: str) -> Layout:
        """The layout called ``name``; ``LayoutError`` naming ``where`` the name came from."""
        try:
            return self.by_name[name]
        except KeyError:
            known = ", ".join(sorted(self.by_name))
            raise LayoutError(f"{where}: unknown layout {name!r} (known: {known})") from None

    def pick(
        self, clip: tuple[str, str] | None = None, account: tuple[str, str] | None = None
    ) -> Layout:
        """The clip's layout, else the account's, else the default; each ``(name, where)``."""
        for choice in (clip, account):
            if choice is not None and choice[0]:
                return self.get(*choice)
        return self.default
