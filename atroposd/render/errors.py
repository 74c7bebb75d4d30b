"""Render errors (layer 1): an ffmpeg run failed, or a layout / cut cannot be used."""

from __future__ import annotations

from atroposd.errors import ConfigError, InputError


class RenderFailed(InputError):
    """ffmpeg exited non-zero; ``stderr`` holds its last lines (never a secret: no env)."""

    def __init__(self, message: str, *, returncode: int | None, stderr: tuple[str, ...]) -> None:
        tail = "; ".join(stderr[-5:])
        super().__init__(f"{message}: {tail}" if tail else message)
        self.returncode = returncode
        self.stderr = stderr


class OutputWriteFailed(RenderFailed):
    """ffmpeg could not finish writing the output (disk full, quota, I/O error): retry later.

    ffmpeg 5.x exits 0 when only the trailer cannot be written, leaving a file without its
    ``moov`` index; the runner reads its stderr and removes the file instead of publishing it.
    """


class EncoderUnavailable(RenderFailed):
    """The requested encoder could not be opened (no GPU, no driver): fall back to libx264."""


class LayoutError(ConfigError):
    """A layout name or file is invalid; the message says where the name came from."""


class CutError(InputError):
    """A start/end pair cannot be cut from the source (outside it, end before start)."""
