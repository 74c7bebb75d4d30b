"""Streaming ``multipart/form-data`` request bodies, in constant memory, with exact length.

X's APPEND (``segment_index`` + ``media``) and Snapchat's ADD (``action``, ``part_number``,
``file``) are multipart/form-data requests (providers.md §6.2, §7.2, §11). httpx's own
``files=`` holds a part in memory; ``MultipartBody`` streams its binary part from a source
such as ``file_slice`` or ``EncryptedSlice`` (1 MiB pieces) and knows its length up front,
so the request carries an exact ``Content-Length`` (not chunked transfer encoding, which
upload hosts do not all accept: providers.md §11) and never holds more than one piece.

Wire format (RFC 7578, RFC 2046 §5.1.1), CRLF line ends::

    --B                                                    one block per part
    Content-Disposition: form-data; name="media"; filename="blob"
    Content-Type: application/octet-stream                 (binary parts only)
                                                           empty line
    <bytes>
    --B--                                                  after the last part

The boundary is 32 random hex digits: 128 bits, so binary content contains the delimiter
line with a probability far below anything that matters (httpx and requests do the same);
text parts are checked, since a caller could put anything there.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass

CRLF = b"\r\n"
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")  # RFC 2046 bchars, no space


@dataclass(frozen=True)
class TextPart:
    """A form field: ``name=value``."""

    name: str
    value: str


@dataclass(frozen=True)
class StreamPart:
    """A binary part: ``source()`` opens a fresh stream of exactly ``length`` bytes.

    A factory rather than an iterator, so the body can be sent again on a retry.
    """

    name: str
    length: int
    source: Callable[[], AsyncIterable[bytes]]
    filename: str = "blob"
    content_type: str = "application/octet-stream"


Part = TextPart | StreamPart


def _quote(value: str) -> str:
    """A header parameter value as browsers and httpx write it (HTML form encoding)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _head(boundary: bytes, part: Part) -> bytes:
    disposition = f'Content-Disposition: form-data; name="{_quote(part.name)}"'
    lines = [b"--" + boundary]
    if isinstance(part, StreamPart):
        disposition += f'; filename="{_quote(part.filename)}"'
        lines += [disposition.encode(), f"Content-Type: {part.content_type}".encode()]
    else:
        lines.append(disposition.encode())
    return CRLF.join(lines) + CRLF + CRLF


class MultipartBody:
    """A multipart/form-data body for ``httpx`` (``content=body, headers=body.headers``).

    Iterating it yields the envelope and the binary parts' pieces as they are read; it can
    be iterated again (each time the sources are opened anew). A source that yields more
    or fewer bytes than its part declared raises ``ValueError`` before the request could
    end with a body of the wrong length.
    """

    def __init__(self, parts: Sequence[Part], boundary: str | None = None) -> None:
        self.boundary = boundary if boundary is not None else secrets.token_hex(16)
        if not _BOUNDARY.fullmatch(self.boundary):
            raise ValueError(f"invalid multipart boundary {self.boundary!r}")
        if not parts:
            raise ValueError("a multipart body needs at least one part")
        self._parts = tuple(parts)
        delimiter = CRLF + b"--" + self.boundary.encode()
        for part in self._parts:
            if isinstance(part, StreamPart) and part.length < 0:
                raise ValueError(f"part {part.name!r}: negative length")
            if isinstance(part, TextPart) and delimiter in CRLF + part.value.encode() + CRLF:
                raise ValueError(f"part {part.name!r} contains the multipart boundary")
        self._tail = CRLF + b"--" + self.boundary.encode() + b"--" + CRLF

    @property
    def content_type(self) -> str:
        """The request's ``Content-Type`` header value."""
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def content_length(self) -> int:
        """The exact number of bytes iteration yields."""
        total = len(self._tail)
        for i, part in enumerate(self._parts):
            total += len(CRLF) if i else 0  # the CRLF that ends the previous part
            total += len(_head(self.boundary.encode(), part))
            total += part.length if isinstance(part, StreamPart) else len(part.value.encode())
        return total

    @property
    def headers(self) -> dict[str, str]:
        """``Content-Type`` and ``Content-Length`` for the request."""
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length)}

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        boundary = self.boundary.encode()
        for i, part in enumerate(self._parts):
            head = (CRLF if i else b"") + _head(boundary, part)
            if isinstance(part, TextPart):
                yield head + part.value.encode()
                continue
            yield head
            sent = 0
            async for piece in part.source():
                sent += len(piece)
                if sent > part.length:
                    raise ValueError(f"part {part.name!r} gave more than {part.length} bytes")
                yield piece
            if sent != part.length:
                raise ValueError(f"part {part.name!r} gave {sent} of {part.length} bytes")
        yield self._tail
