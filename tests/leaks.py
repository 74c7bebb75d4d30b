"""The suite-wide leak check (issue 9): no issued token, client secret or Fernet key in any log
line, CLI output or exception text a test produced. Per test, the secrets known are: every
access and refresh token the test's emulators issued (harvested when an emulator closes), the
secret values (``*_SECRET``, ``*TOKEN*``, the Fernet keys) in the environments of the
daemons/CLIs it ran and in its workspaces' ``.env`` files, the sandbox Fernet keys in their
state dirs, and every value in the token files those keys open. The outputs searched: each
daemon/CLI process's stdout and stderr, the test's captured stdout/stderr/log (pytest's report
sections, every phase), what the test read itself with ``capsys``/``capfd.readouterr()``, the
``*.log`` files under its tmp_path, and the text of an exception that is not an assertion
(``structlog.testing.capture_logs`` is not searched). A hit fails the test with where it was and
what kind of secret, never the value. Cheap: nothing is read for a test that ran no emulator and
no process; the searches are one compiled pattern per test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken

from atroposd.config import SECRET_NAMES

MIN_LEN = 8  # shorter values would match ordinary words (as log.Redactor)
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "FERNET")


class Run(Protocol):
    """What tests.support.Daemon keeps of one process."""

    env: dict[str, str]
    raw: list[str]
    stderr: list[str]


ISSUED: set[str] = set()  # by the emulators of the running test
RUNS: list[Run] = []  # the processes the running test started
CONSUMED: list[tuple[str, str]] = []  # what the test read itself with capsys/capfd.readouterr()
LOG_BYTES = 1 << 20  # of each *.log file under the test's tmp_path, the first MiB is searched


def _record(capture: Any, name: str) -> None:
    """Keep what ``readouterr`` hands the test: it is gone from pytest's report sections."""
    read = capture.readouterr

    def readouterr() -> Any:
        got = read()
        CONSUMED.append((f"{name}.readouterr() out", str(got.out)))
        CONSUMED.append((f"{name}.readouterr() err", str(got.err)))
        return got

    capture.readouterr = readouterr


def log_files(root: Path) -> list[tuple[str, str]]:
    """The ``*.log`` files a test's processes wrote under its tmp_path."""
    found = []
    for path in sorted(root.rglob("*.log")):
        if path.is_file():
            with path.open("rb") as handle:
                text = handle.read(LOG_BYTES).decode("utf-8", "replace")
            found.append((f"file {path.relative_to(root)}", text))
    return found


def harvest(http: httpx.Client) -> None:
    """Remember every token an emulator issued (called as it closes)."""
    for path in ("/_emulator/issued_tokens", "/_emulator/oauth/issued"):
        try:
            resp = http.get(path)
        except httpx.HTTPError:
            return
        if resp.status_code != 200:
            continue
        for item in resp.json():
            value = item.get("value") if isinstance(item, dict) else item
            if isinstance(value, str):
                ISSUED.add(value)


def secret_names() -> list[str]:
    """The settings whose values must never be shown (client ids are public by design)."""
    names = {n for n in SECRET_NAMES if any(w in n for w in SECRET_WORDS)}
    return sorted(names | {"API_TOKEN"})


def from_env(env: dict[str, str], where: str) -> dict[str, str]:
    """secret value -> what it is, from one environment or .env file."""
    found: dict[str, str] = {}
    for name in secret_names():
        for value in (env.get(name) or "").split(","):
            if len(value.strip()) >= MIN_LEN:
                found[value.strip()] = f"{name} ({where})"
    return found


def _token_values(path: Path, keys: Iterable[str]) -> Iterator[str]:
    blob = path.read_bytes()
    for key in keys:
        try:
            data = json.loads(Fernet(key.encode()).decrypt(blob))
        except (InvalidToken, ValueError, TypeError):
            continue
        yield from (str(v) for v in (data.get("access_token"), data.get("refresh_token")) if v)
        extra = data.get("extra") or {}  # ids (user_id, page_id) are not secrets
        yield from (str(v) for k, v in extra.items() if "secret" in k or "token" in k)
        return


def from_files(root: Path) -> dict[str, str]:
    """Secrets in a test's workspaces: .env values, sandbox keys, token file contents."""
    found: dict[str, str] = {}
    for env_file in [root / ".env", *root.glob("*/.env")]:
        if env_file.is_file():
            pairs = (ln.partition("=") for ln in env_file.read_text("utf-8").splitlines())
            found |= from_env({k.strip(): v.strip() for k, _, v in pairs}, str(env_file))
    for key_file in root.glob("*/state/sandbox.fernet.key"):
        found[key_file.read_text().strip()] = "sandbox Fernet key"
    keys = [s for s, what in found.items() if "FERNET" in what or what == "sandbox Fernet key"]
    for path in root.glob("*/tokens/*/*.json.enc"):
        for value in _token_values(path, keys):
            if len(value) >= MIN_LEN:
                found.setdefault(value, f"a token stored in {path.name}")
    return found


def find(secrets: dict[str, str], texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: what`` for each text holding a secret; never the secret itself."""
    usable = sorted((s for s in secrets if len(s) >= MIN_LEN), key=len, reverse=True)
    if not usable:
        return []
    pattern = re.compile("|".join(map(re.escape, usable)))
    hits = []
    for where, text in texts:
        match = pattern.search(text)
        if match is not None:
            hits.append(f"{where}: {secrets[match.group(0)]}")
    return hits


@pytest.fixture(autouse=True)
def no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Collect what the test ran; after it (and its emulators) finished, search the outputs."""
    ISSUED.clear()
    RUNS.clear()
    CONSUMED.clear()
    for name in ("capsys", "capfd"):
        if name in request.fixturenames:
            _record(request.getfixturevalue(name), name)
    yield
    for run in RUNS:
        if getattr(run, "reap_after_test", False):
            run.reap()  # a test that failed midway left its child running: no stray process
    if not ISSUED and not RUNS:
        request.node.leak_secrets = {}
        return
    secrets = {token: "a token the emulator issued" for token in ISSUED}
    for n, run in enumerate(RUNS):
        secrets |= from_env(run.env, f"environment of process {n + 1}")
    tmp = request.node.funcargs.get("tmp_path")
    texts = [(f"process {n + 1} stdout", "".join(r.raw)) for n, r in enumerate(RUNS)]
    texts += [(f"process {n + 1} stderr", "".join(r.stderr)) for n, r in enumerate(RUNS)]
    texts += CONSUMED
    if isinstance(tmp, Path):
        secrets |= from_files(tmp)
        texts += log_files(tmp)
    request.node.leak_secrets = secrets
    hits = find(secrets, texts)
    RUNS.clear()
    assert not hits, "secret leaked: " + "; ".join(hits)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """After the teardown: the test's captured output and its exception text."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call" and call.excinfo is not None:
        if not call.excinfo.errisinstance(AssertionError):
            item.leak_exception = str(call.excinfo.value)  # type: ignore[attr-defined]
        return
    if report.when != "teardown":
        return
    secrets: dict[str, str] = getattr(item, "leak_secrets", {})
    if not secrets:
        return
    texts = [(f"captured {key} ({when})", text) for when, key, text in item._report_sections]
    texts.append(("exception text", getattr(item, "leak_exception", "")))
    hits = find(secrets, texts)
    if hits and report.outcome != "failed":
        report.outcome = "failed"
        report.longrepr = "secret leaked: " + "; ".join(hits)
