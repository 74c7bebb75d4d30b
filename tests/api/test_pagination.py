"""Must-show 3: keyset pages of /api/clips while clips come and go between pages; the
overall state of a job never reads as a success when its posts failed."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path

import websockets.sync.client as wsc

from atroposd.clock import SystemClock
from atroposd.domain import PostState
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.api.support import TOKEN, ThreadServer, standalone

S = PostState


def _drop(name: str) -> Drop:
    path = Path("/q") / f"{name}.mp4"
    return Drop(path, path.with_suffix(".txt"), None, Path("/q"), path.name, f"{name}\n", None)


def _add(ledger: Ledger, name: str, account: str, platforms: tuple[str, ...]) -> str:
    sha = hashlib.sha256(name.encode()).hexdigest()
    ledger.plan(sha, 1000, account, platforms, _drop(name))
    return sha


def _remove(conn: sqlite3.Connection, sha: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "DELETE FROM post_history WHERE post_id IN (SELECT id FROM posts WHERE clip_sha256 = ?)",
        (sha,),
    )
    conn.execute("DELETE FROM posts WHERE clip_sha256 = ?", (sha,))
    conn.execute("DELETE FROM clips WHERE sha256 = ?", (sha,))
    conn.execute("COMMIT")


def test_pages_return_every_clip_that_existed_throughout_exactly_once(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    conn.execute("PRAGMA synchronous=OFF")  # seeding only: the server reads what is committed
    ledger = Ledger(conn, SystemClock())
    rng = random.Random(12)
    alpha: dict[str, str] = {}  # sha -> name
    for i in range(1000):
        alpha[_add(ledger, f"a{i}", "alpha", ("youtube", "x")[: 1 + i % 2])] = f"a{i}"
        if i % 7 == 0:
            _add(ledger, f"b{i}", "beta", ("youtube",))
    server = ThreadServer(standalone(tmp_path))
    try:
        seen: list[str] = []
        removed: set[str] = set()
        added = 0
        cursor = None
        with server.client() as api:
            while True:
                params = {
                    "accountId": "alpha",
                    "limit": 37,
                    **({"cursor": cursor} if cursor else {"withTotal": "true"}),
                }
                page = api.get("/api/clips", params=params)
                assert page.status_code == 200, page.text
                body = page.json()
                assert (
                    (body["totalClips"] == 1000) if cursor is None else body["totalClips"] is None
                )
                seen += [c["title"] for c in body["clips"]]
                assert all(c["account"] == "alpha" for c in body["clips"])
                assert all(c["platforms"] and c["state"] == "queued" for c in body["clips"])
                cursor = body["nextCursor"]
                if cursor is None:
                    break
                for _ in range(3):  # new clips (above the cursor) and gone ones (anywhere)
                    _add(ledger, f"new{added}", "alpha", ("youtube",))
                    added += 1
                for sha in rng.sample(sorted(set(alpha) - removed), 4):
                    _remove(conn, sha)
                    removed.add(sha)
        throughout = {alpha[s] for s in alpha if s not in removed}
        assert len(seen) == len(set(seen)), "a clip came twice"
        assert throughout <= set(seen), sorted(throughout - set(seen))[:10]
        assert set(seen) <= set(alpha.values()), "a clip that was never there"
        assert len(removed) >= 80 and added >= 60
    finally:
        server.close()
        conn.close()


def test_the_cursor_is_opaque_and_a_forged_one_is_refused(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    ledger = Ledger(conn, SystemClock())
    for i in range(3):
        _add(ledger, f"c{i}", "default", ("youtube",))
    server = ThreadServer(standalone(tmp_path))
    try:
        with server.client() as api:
            first = api.get("/api/clips", params={"accountId": "__default__", "limit": 2}).json()
            assert [c["title"] for c in first["clips"]] == ["c2", "c1"]
            assert first["nextCursor"] and "2" not in first["nextCursor"][-1:]
            rest = api.get(
                "/api/clips",
                params={"accountId": "default", "limit": 2, "cursor": first["nextCursor"]},
            ).json()
            assert [c["title"] for c in rest["clips"]] == ["c0"] and rest["nextCursor"] is None
            for bad in ("x", "eyJ2IjoxLCJvIjo0fQ", "eyJ2IjoyLCJiIjotMX0", "!!!"):
                got = api.get("/api/clips", params={"accountId": "default", "cursor": bad})
                assert (
                    got.status_code == 400 and got.json()["detail"] == "Invalid pagination cursor"
                )
    finally:
        server.close()
        conn.close()


def test_a_job_whose_posts_all_failed_is_failed_never_a_success(tmp_path: Path) -> None:
    conn = connect(tmp_path / "ledger.sqlite3")
    ledger = Ledger(conn, SystemClock())
    _add(ledger, "bad", "default", ("youtube", "x"))
    _add(ledger, "half", "default", ("youtube", "x"))
    for post in ledger.list_posts():
        ledger.transition(post.id, [S.PLANNED], S.READY)
        ledger.transition(post.id, [S.READY], S.UPLOADING)
        ok = post.clip_sha256 == hashlib.sha256(b"half").hexdigest() and post.platform == "x"
        if ok:
            ledger.transition(post.id, [S.UPLOADING], S.PUBLISHED, remote_id="1", url="u")
        else:
            ledger.transition(post.id, [S.UPLOADING], S.FAILED, last_error="rejected: too long")
    server = ThreadServer(standalone(tmp_path))
    try:
        with server.client() as api:
            jobs = {j["title"]: j for j in api.get("/api/jobs").json()["jobs"]}
            assert jobs["bad"]["state"] == "failed" and jobs["bad"]["success"] is False
            assert jobs["bad"]["finished"] and "youtube: rejected: too long" in jobs["bad"]["error"]
            assert jobs["half"]["state"] == "partial" and jobs["half"]["success"] is False
            failed = api.get("/api/jobs", params={"state": "failed"}).json()["jobs"]
            assert [j["title"] for j in failed] == ["bad"]
            one = api.get(f"/api/jobs/{jobs['half']['job_id']}").json()
            assert [p["state"] for p in one["platforms"]] == ["failed", "published"]
            assert api.get("/api/jobs/999").status_code == 404
            # standalone (uvicorn --factory): read-only
            assert api.post(f"/api/jobs/{one['job_id']}/retry").status_code == 503
        # the websocket ends the way the desktop client ends a run: pipeline_completed,
        # success false with the error (it reads a missing success as true)
        url = server.url.replace("http", "ws") + f"/ws/jobs/{jobs['bad']['job_id']}?token={TOKEN}"
        with wsc.connect(url) as sock:
            got = [json.loads(m) for m in sock]
        final = got[-1]
        assert final["type"] == "pipeline_completed", got[-2:]
        assert final["data"]["success"] is False and "rejected" in final["data"]["error"]
    finally:
        server.close()
        conn.close()
