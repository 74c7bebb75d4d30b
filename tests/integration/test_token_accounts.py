"""Accounts are isolated: two accounts x two platforms posting at once, each request under its
own account's token (issue 9, must-show 4); the token files hold none of the issued values."""

from __future__ import annotations

import json
from collections import Counter

from tests.support import Daemon, Emulator, Workspace, iter_files

PLATFORMS = ("tiktok", "youtube")
ACCOUNTS = ("default", "second")


def test_two_accounts_on_two_platforms_each_request_carries_its_own_accounts_token(
    ws: Workspace, emulator: Emulator
) -> None:
    ws.use_platforms(*PLATFORMS)
    config = json.loads(ws.config_path.read_text())
    config["accounts"]["second"] = {"platforms": dict(config["accounts"]["default"]["platforms"])}
    ws.config_path.write_text(json.dumps(config))
    for n, account in enumerate(ACCOUNTS * 2):  # every clip waits before the daemon starts
        folder = ws.queue if account == "default" else ws.queue / account
        ws.drop(f"{account}{n}", seed=400 + n, caption=f"clip of {account} #{n}\n", folder=folder)
    run = Daemon(ws, ("upload", "--once"))
    assert run.wait() == 0, "".join(run.raw[-10:]) + "".join(run.stderr)
    posts = emulator.posts()
    assert len(posts) == len(ACCOUNTS) * 2 * len(PLATFORMS)
    for post in posts:  # the platform filed each post under the account whose token made it
        text = f"{post.get('title')} {post.get('caption')}"
        assert f"clip of {post['account']} " in text, post
    seen = emulator.http.get("/_emulator/requests").raise_for_status().json()
    carried = [r for r in seen if r["token"] != "none"]
    assert carried and all(r["token"] == "valid" for r in carried), carried
    per = Counter((r["account"], r["platform"]) for r in carried)
    assert set(per) == {(a, p) for a in ACCOUNTS for p in PLATFORMS}, per
    sessions: dict[str, set[str]] = {}  # YouTube's resumable sessions: one account each
    for r in carried:
        if "upload_id" in r["query"]:
            sessions.setdefault(r["query"]["upload_id"], set()).add(r["account"])
    assert len(sessions) == len(ACCOUNTS) * 2, sessions
    assert all(len(accounts) == 1 for accounts in sessions.values()), sessions
    issued = [t["access_token"] for t in emulator.http.get("/_emulator/tokens").json()]
    assert len(issued) >= len(ACCOUNTS) * len(PLATFORMS)
    files = list(iter_files(ws.root / "tokens"))
    assert {f.name for f in files} >= {f"{p}.json.enc" for p in PLATFORMS}
    for path in files:
        blob = path.read_bytes()
        assert not any(t.encode() in blob for t in issued), f"{path} holds a plaintext token"
        assert path.stat().st_mode & 0o777 == 0o600, path
        assert path.parent.stat().st_mode & 0o777 == 0o700, path.parent
