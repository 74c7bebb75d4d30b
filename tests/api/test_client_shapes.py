"""The desktop client of the original system reads these shapes (original-system.md §7, and
its ``normaliseClip``): a library clip it cannot normalise is dropped from the page, so every
field it requires must be there with the type it checks."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from atroposd.clock import SystemClock
from atroposd.store.db import connect
from atroposd.store.ledger import Drop, Ledger
from tests.api.support import ThreadServer, standalone
from tests.support import make_clip


def client_keeps(clip: dict[str, Any]) -> list[str]:
    """What the client's normaliseClip would reject this clip for (empty: it keeps it)."""
    wrong = []
    for key in ("id", "title", "created_at", "playback_url", "source_title"):
        if not isinstance(clip.get(key), str) or not clip[key]:
            wrong.append(key)
    for key in ("description", "source_url"):
        if not isinstance(clip.get(key), str):
            wrong.append(key)
    if not isinstance(clip.get("duration_seconds"), int | float):
        wrong.append("duration_seconds")
    return wrong


def test_library_clips_and_accounts_have_the_fields_the_desktop_client_reads(
    tmp_path: Path,
) -> None:
    video = tmp_path / "out" / "default" / "my_project" / "shorts" / "clip1.mp4"
    make_clip(video, seconds=2, seed=3)
    caption = video.with_suffix(".txt")
    caption.write_text("A title\nmore\n", encoding="utf-8")
    conn = connect(tmp_path / "ledger.sqlite3")
    ledger = Ledger(conn, SystemClock())
    drop = Drop(
        video,
        caption,
        None,
        tmp_path / "out",
        "default/my_project/shorts/clip1.mp4",
        "A title\nmore\n",
        None,
    )
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    ledger.plan(sha, video.stat().st_size, "default", ("youtube",), drop)
    config = {"accounts": {"default": {"display_name": "My Channel", "platforms": {"youtube": {}}}}}
    archive = tmp_path / "posted"
    server = ThreadServer(standalone(tmp_path, config, ARCHIVE_DIR=str(archive)))
    try:
        with server.client() as api:
            params = {"accountId": "default", "limit": 20}
            page = api.get("/api/clips", params=params).json()
            accounts = api.get("/api/accounts").json()
            # published clips are archived: the library finds them there
            moved = archive / "default" / "my_project" / "shorts" / "clip1.mp4"
            moved.parent.mkdir(parents=True)
            video.rename(moved)
            [archived] = api.get("/api/clips", params=params).json()["clips"]
    finally:
        server.close()
        conn.close()
    [clip] = page["clips"]
    assert client_keeps(clip) == [], clip
    assert clip["duration_seconds"] == 2.0 and clip["channel"] == "My Channel"
    assert clip["playback_url"] == video.as_uri() and clip["title"] == "A title"
    assert clip["source_title"] == clip["video_title"] == "my_project"
    assert "nextCursor" in page and page["nextCursor"] is None
    assert client_keeps(archived) == [], archived
    assert archived["duration_seconds"] == 2.0 and archived["playback_url"] == moved.as_uri()
    [account] = accounts
    assert account["id"] == "default" and account["displayName"] == "My Channel"
    assert account["active"] is True
    assert account["platforms"][0]["platform"] == "youtube"
    assert account["platforms"][0]["active"] is True
