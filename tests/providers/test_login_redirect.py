"""The loopback listener of ``atroposd auth login`` over real loopback HTTP: only a request
carrying the platform's answer ends the wait; what a browser or a user does besides (the
favicon, the bare redirect address opened by hand) gets a page and the login keeps waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from io import StringIO

import httpx
import pytest

from atroposd.providers.auth.login import LoginFailed
from atroposd.providers.auth.redirect import Browser, Redirect, parse_answer


def _browser() -> Browser:
    return Browser(out=StringIO(), inp=StringIO(), open=None, timeout=30)


async def _answer_after(requests: list[str], final: str) -> tuple[dict[str, str], list[int], str]:
    """The answer the listener returns, after ``requests`` (paths + queries) and ``final``."""
    async with Redirect(_browser()) as redirect:
        waiting = asyncio.create_task(redirect.answer("http://platform/authorize", "youtube", "a"))
        root = redirect.uri.removesuffix("/callback")
        async with httpx.AsyncClient(timeout=10) as browser:
            codes = [(await browser.get(root + path)).status_code for path in requests]
            assert not waiting.done()  # none of them was the platform's answer
            last = await browser.get(root + final)
        answer = await waiting
    return answer, codes, last.text


def test_a_bare_callback_or_the_favicon_does_not_end_the_login() -> None:
    answer, codes, page = asyncio.run(
        _answer_after(
            ["/favicon.ico", "/callback", "/callback?state=x", "/"], "/callback?code=c1&state=s1"
        )
    )
    assert codes == [404, 400, 400, 404]
    assert answer == {"code": "c1", "state": "s1"}
    assert "received the answer" in page


def test_the_callback_with_a_trailing_slash_is_taken_too() -> None:
    answer, _, _ = asyncio.run(_answer_after([], "/callback/?code=c2&state=s2"))
    assert answer == {"code": "c2", "state": "s2"}


def test_a_refusal_ends_the_login_and_the_page_says_nothing_was_stored() -> None:
    answer, _, page = asyncio.run(_answer_after([], "/callback?error=access_denied&state=s3"))
    assert answer["error"] == "access_denied"
    assert "did not approve" in page and "received the answer" not in page


def test_no_redirect_in_time_says_which_redirect_uri_to_register() -> None:
    async def wait() -> str:
        browser = Browser(out=StringIO(), inp=StringIO(), open=None, timeout=0.1)
        async with Redirect(browser) as redirect:
            with pytest.raises(LoginFailed) as failed:
                await redirect.answer("http://platform/authorize", "snapchat", "a")
            return f"{redirect.uri}\n{failed.value}"

    uri, text = asyncio.run(wait()).split("\n", 1)
    assert f"register exactly {uri} with the app" in text and "nothing was stored" in text


def test_a_pasted_address_in_quotes_or_brackets_reads_the_same() -> None:
    plain = "http://127.0.0.1:8765/callback?code=c4&state=s4"
    for pasted in (plain, f'"{plain}"', f"'{plain}'", f"<{plain}>", f"  `{plain}`\n"):
        assert parse_answer(pasted) == {"code": "c4", "state": "s4"}, pasted


def test_with_no_browser_here_the_wait_says_how_to_log_in_from_elsewhere() -> None:
    async def shown(open_: Callable[[str], object] | None) -> str:
        out = StringIO()
        browser = Browser(out=out, inp=StringIO(), open=open_, timeout=0.1)
        async with Redirect(browser) as redirect:
            with pytest.raises(LoginFailed):
                await redirect.answer("http://platform/authorize", "youtube", "a")
        return out.getvalue()

    headless = asyncio.run(shown(None))
    assert "use --no-browser" in headless and "ssh -L " in headless
    assert "use --no-browser" not in asyncio.run(shown(lambda url: True))
