"""``atroposd auth status``: every login's state without a token; a file no key opens is one
line naming it (exit 2), the other logins are still listed."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from atroposd import auth_cli
from atroposd.providers.base import Credentials
from atroposd.vault import Vault, sandbox_key
from tests.integration.auth_support import auth
from tests.support import Emulator, Workspace


def test_status_lists_stand_ins_and_names_a_file_no_key_opens(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms("youtube", "tiktok", "snapchat", "x")
    tokens = ws.root / "tokens"
    vault = Vault(tokens, sandbox_key(ws.state), sandbox=True)
    made = vault.load("default", "youtube")
    # A stand-in the daemon has refreshed since: it has an access token, and still no login.
    stand_in = vault.load("default", "x")
    vault.save("default", "x", Credentials("refreshed-access", stand_in.refresh_token))
    secret = "a-refresh-token-of-another-key"
    Vault(tokens, Fernet.generate_key().decode(), sandbox=False).save(
        "default", "tiktok", Credentials("an-access-token", secret)
    )
    done = auth(ws, "status", "--json")
    assert done.returncode == 2
    bad = tokens / "default" / "tiktok.json.enc"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in done.stderr, lines
    rows = {r["platform"]: r for r in json.loads(done.stdout)}
    assert rows["youtube"]["connected"] and rows["youtube"]["source"] == "sandbox stand-in"
    assert rows["x"]["connected"] and rows["x"]["source"] == "sandbox stand-in"
    assert not rows["tiktok"]["connected"] and "cannot decrypt" in rows["tiktok"]["problem"]
    assert not rows["snapchat"]["connected"]
    assert "auth login snapchat --account default" in rows["snapchat"]["problem"]
    for value in (made.refresh_token or "-", secret, "an-access-token"):
        assert value not in done.stdout + done.stderr


def test_status_over_a_broken_tokens_folder_is_one_line_and_exit_2(ws: Workspace) -> None:
    ws.use_platforms("youtube", "tiktok")
    (ws.root / "tokens").mkdir(exist_ok=True)
    (ws.root / "tokens" / "default").write_text("a file where the account's folder should be")
    done = auth(ws, "status", "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and all("cannot read" in line for line in lines), lines
    rows = json.loads(done.stdout)
    assert [r["connected"] for r in rows] == [False, False]
    assert all("check TOKENS_DIR" in r["problem"] for r in rows)


def test_login_refuses_a_port_or_timeout_out_of_range_before_anything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="atroposd")
    auth_cli.add_parsers(parser.add_subparsers(dest="command"))
    for flag, value in (("--port", "70000"), ("--port", "-1"), ("--timeout", "-5")):
        with pytest.raises(SystemExit) as usage:  # argparse's usage error: exit 2, one line
            parser.parse_args(["auth", "login", "youtube", flag, value])
        assert usage.value.code == 2
        assert f"argument {flag}" in capsys.readouterr().err
    args = parser.parse_args(["auth", "login", "youtube", "--port", "8765", "--timeout", "30"])
    assert (args.port, args.timeout) == (8765, 30.0)


def test_login_and_logout_over_a_file_no_key_opens_say_how_to_recover(ws: Workspace) -> None:
    key, other = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ws.use_platforms("youtube")
    ws.env.update({"ENVIRONMENT": "production", "TOKEN_FERNET_KEY": key})
    ws.env.update({"YOUTUBE_CLIENT_ID": "an-id", "YOUTUBE_CLIENT_SECRET": "a-client-secret"})
    Vault(ws.root / "tokens", other, sandbox=False).save(
        "default", "youtube", Credentials("an-access-token", "a-refresh-token")
    )
    bad = ws.root / "tokens" / "default" / "youtube.json.enc"
    before = bad.read_bytes()
    for args in (("login", "youtube", "--no-browser"), ("logout", "youtube")):
        done = auth(ws, *args)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        (line,) = done.stderr.strip().splitlines()
        assert str(bad) in line and f"if that key is lost, remove {bad}" in line, line
        assert "Log in to" not in done.stdout
    assert bad.read_bytes() == before


def test_a_production_login_that_needs_an_exact_redirect_asks_for_port_first(
    ws: Workspace,
) -> None:
    ws.use_platforms("snapchat")
    ws.env.update({"ENVIRONMENT": "production", "TOKEN_FERNET_KEY": Fernet.generate_key().decode()})
    ws.env.update({"SNAPCHAT_CLIENT_ID": "an-id", "SNAPCHAT_CLIENT_SECRET": "a-client-secret"})
    done = auth(ws, "login", "snapchat", "--no-browser")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "pass that --port every time" in done.stderr and "Log in to" not in done.stdout


def test_a_login_that_expires_without_a_refresh_token_is_pointed_out() -> None:
    soon = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    assert "this login works until 2030-01-01 12:00 UTC" in auth_cli.no_refresh(
        "youtube", Credentials("access", None, soon)
    )
    assert auth_cli.no_refresh("youtube", Credentials("access", "refresh", soon)) == ""
    assert auth_cli.no_refresh("x", Credentials("oauth1-token", None, None)) == ""  # never ends
    assert auth_cli.no_refresh("facebook", Credentials("long-lived", None, soon)) == ""
