"""How the authorization server's redirect comes back to ``atroposd auth login``.

Either a one-shot HTTP listener on ``127.0.0.1:<port>`` (RFC 8252 §7.3: a loopback redirect;
any free port unless ``--port`` names the one registered with the platform) that takes the
browser's ``GET /callback?...``, or, with ``--no-browser`` on a headless box reached over SSH,
the address the browser ended on pasted on stdin (the page itself fails to load there, the
URL in the address bar is what counts). The authorize URL is printed either way; a browser is
opened only when one can show it (a desktop session) and ``--no-browser`` is not given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TextIO
from urllib.parse import parse_qsl, urlsplit

from atroposd.providers.auth.login import LoginFailed
from atroposd.providers.spec import TITLES

CALLBACK = "/callback"
PAGE = (
    b"<!doctype html><meta charset=utf-8><title>atroposd</title>"
    b"<p>atroposd received the answer. You can close this tab and return to the terminal.</p>"
)
REFUSED = (
    b"<!doctype html><meta charset=utf-8><title>atroposd</title>"
    b"<p>The platform did not approve the login: the terminal says why. Nothing was stored.</p>"
)
NOT_YET = (
    b"<!doctype html><meta charset=utf-8><title>atroposd</title>"
    b"<p>This is atroposd's redirect address, but this request carries no answer from the "
    b"platform: open the authorize URL printed in the terminal. The login is still waiting.</p>"
)
# A redirect that answers the login carries one of these (RFC 6749 code/error, OAuth 1.0a's
# oauth_token or X's denied); anything else (the bare address opened by hand, a prefetch) is
# not the platform's answer and must not end the login.
ANSWERS = ("code", "error", "oauth_token", "denied")


@dataclass
class Browser:
    """Where the user is: the terminal streams, how to open a URL, paste mode, the port."""

    out: TextIO
    inp: TextIO
    open: Callable[[str], object] | None  # webbrowser.open, or None (no browser to open)
    paste: bool = False  # --no-browser: the redirect URL is pasted on ``inp``
    port: int = 0  # 0: any free port
    timeout: float = 600.0  # seconds to wait for the redirect


def can_open_browser() -> bool:
    """True on a desktop session (a headless box would get a text browser in the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_answer(text: str) -> dict[str, str]:
    """The query of a pasted redirect URL (or of a bare ``code=..&state=..``)."""
    text = text.strip().strip("\"'<>` ")  # quotes or brackets a terminal or chat copy adds
    query = urlsplit(text).query if "://" in text or text.startswith("/") else text.lstrip("?")
    return dict(parse_qsl(query, keep_blank_values=True))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redirect:
    """``async with Redirect(browser) as r``: ``r.uri`` to authorize with, then ``r.answer``."""

    def __init__(self, browser: Browser) -> None:
        self._browser = browser
        self._server: asyncio.Server | None = None
        self._got: asyncio.Future[dict[str, str]] | None = None
        self.uri = ""

    async def __aenter__(self) -> Redirect:
        port = self._browser.port
        if self._browser.paste:
            port = port or _free_port()
        else:
            self._got = asyncio.get_running_loop().create_future()
            try:
                self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
            except OSError as exc:
                raise LoginFailed(
                    f"cannot listen on 127.0.0.1:{port} for the redirect: "
                    f"{exc.strerror or exc} (another program there? pick --port)"
                ) from None
            port = int(self._server.sockets[0].getsockname()[1])
        self.uri = f"http://127.0.0.1:{port}{CALLBACK}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def answer(self, url: str, platform: str, account: str) -> dict[str, str]:
        """Show ``url``; the query of the redirect that comes back."""
        b, title = self._browser, TITLES.get(platform, platform)
        print(f"Log in to {title} for account {account!r}: open this URL and approve:", file=b.out)
        print(url, file=b.out)
        if b.paste:
            print(
                f"Then paste here the address your browser ends on ({self.uri}?...; "
                "the page itself may not load, the address is what counts):",
                file=b.out,
                flush=True,
            )
            line = "\n"
            while line and not line.strip():  # blank lines are skipped; end of input stops
                line = await asyncio.to_thread(b.inp.readline)
            if not line:
                raise LoginFailed("no redirect address was pasted; nothing was stored")
            return parse_answer(line)
        if b.open is not None:
            with contextlib.suppress(Exception):  # no browser after all: the URL is printed
                b.open(url)
        else:  # no desktop here: the URL may well be opened on another machine
            port = self.uri.split(":")[2].split("/")[0]
            print(
                f"(No browser here. A browser on another machine cannot reach {self.uri}: "
                "stop with Ctrl-C and use --no-browser, or forward the port first: "
                f"ssh -L {port}:127.0.0.1:{port} <this host>, with --port {port}.)",
                file=b.out,
            )
        print(f"Waiting for the redirect to {self.uri} (Ctrl-C to stop) ...", file=b.out)
        b.out.flush()
        assert self._got is not None
        try:
            return await asyncio.wait_for(asyncio.shield(self._got), b.timeout)
        except TimeoutError:
            raise LoginFailed(
                f"no redirect came back within {b.timeout:.0f} s; nothing was stored. If "
                f"{title} showed an error page (redirect_uri_mismatch, 'URL blocked', invalid "
                f"redirect), register exactly {self.uri} with the app (and pass the same "
                "--port each time); on a machine without a browser, use --no-browser"
            ) from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        url = urlsplit(parts[1] if len(parts) >= 2 else "")
        ours = parts[:1] == ["GET"] and url.path.rstrip("/") == CALLBACK  # /callback or /callback/
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        answered = ours and any(query.get(key) for key in ANSWERS)
        if answered and self._got is not None and not self._got.done():
            self._got.set_result(query)
        if answered:
            status, body = b"200 OK", REFUSED if query.get("error") or query.get("denied") else PAGE
        else:
            status, body = (b"400 Bad Request", NOT_YET) if ours else (b"404 Not Found", b"")
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: text/html; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()
