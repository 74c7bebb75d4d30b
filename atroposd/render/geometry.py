"""Where everything goes on the canvas, in pixels, for one layout and one source. Pure.

Sizes are rounded to even numbers (4:2:0 chroma); positions are whole pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

from atroposd.render.layouts import CANVAS, Foreground, Layout, Tile

VERTICAL = 9 / 16


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Piece:
    """A part of the source: crop it (``crop``, source pixels; None: all), scale it to
    ``scale`` (w, h), crop the scaled picture to ``trim`` (None: keep it all), place at (x, y)."""

    crop: Box | None
    scale: tuple[int, int]
    trim: Box | None
    x: int
    y: int


@dataclass(frozen=True)
class Plan:
    """A whole frame: the canvas, the background (None: the source fills the canvas) and the
    pieces drawn over it in order."""

    canvas: tuple[int, int]
    background: bool
    pieces: tuple[Piece, ...]


def even(value: float) -> int:
    """The nearest even whole number, at least 2."""
    return max(2, round(value / 2) * 2)


def is_vertical(width: int, height: int, tolerance: float) -> bool:
    """True when a source is already 9:16 or narrower (within ``tolerance`` of the aspect)."""
    return width / height <= VERTICAL + tolerance


def _foreground(fg: Foreground, src: tuple[int, int], canvas: tuple[int, int]) -> Piece:
    (sw, sh), (cw, ch) = src, canvas
    if fg.fit == "width":
        scale = min(1.0, cw / sw, ch / sh)  # the whole source, never upscaled
        w, h = even(sw * scale), even(sh * scale)
    else:
        h = even(ch * fg.height)
        w = even(sw * h / sh)
    y = round(ch * fg.center_y - h / 2)
    trim = None
    if w > cw:  # wider than the canvas: keep the part ``align`` names
        left = {"left": 0, "center": (w - cw) // 2, "right": w - cw}[fg.align]
        trim = Box(left, 0, cw, h)
        x = 0
    else:
        x = {"left": 0, "center": (cw - w) // 2, "right": cw - w}[fg.align]
    return Piece(None, (w, h), trim, x, y)


def _tile(tile: Tile, src: tuple[int, int], canvas: tuple[int, int]) -> Piece:
    (sw, sh), (cw, _) = src, canvas
    r = tile.region
    x0, y0 = round(sw * r.x), round(sh * r.y)
    crop_w = min(even(sw * r.width), sw - x0) // 2 * 2
    crop_h = min(even(sh * r.height), sh - y0) // 2 * 2
    crop = Box(x0, y0, crop_w, crop_h)
    w = even(cw * tile.width)
    h = even(w * crop.height / crop.width)
    margin = round(cw * tile.margin)
    x = margin if tile.side == "left" else cw - margin - w
    return Piece(crop, (w, h), None, x, margin)


def plan(layout: Layout, width: int, height: int) -> Plan:
    """The frame plan for a ``width``×``height`` source (display size) in ``layout``."""
    canvas = CANVAS
    src = (width, height)
    if is_vertical(width, height, layout.vertical_tolerance):
        cw, ch = canvas
        scale = max(cw / width, ch / height)  # cover: a vertical source fills the canvas
        w, h = even(width * scale), even(height * scale)
        trim = Box((w - cw) // 2, (h - ch) // 2, cw, ch)
        return Plan(canvas, False, (Piece(None, (w, h), trim, 0, 0),))
    pieces = [_foreground(layout.foreground, src, canvas)]
    pieces += [_tile(t, src, canvas) for t in layout.tiles]
    return Plan(canvas, True, tuple(pieces))
