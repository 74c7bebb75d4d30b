"""`atroposd probe FILE --json`: the media facts and each enabled platform's verdict."""

from __future__ import annotations

import json
from pathlib import Path

from tests.media_clips import corrupt, long_clip
from tests.support import Daemon, Workspace


def probe(ws: Workspace, *args: str) -> tuple[int, str, str]:
    cli = Daemon(ws, args=("probe", *args))
    code = cli.wait(60)
    return code, "".join(cli.raw), "".join(cli.stderr)


def test_probe_json_shape_for_the_enabled_platforms(ws: Workspace, tmp_path: Path) -> None:
    ws.use_platforms("youtube", "snapchat", "x")
    code, out, err = probe(ws, "--json", str(long_clip(tmp_path / "long.mp4")))
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"file", "media", "platforms"}
    media = doc["media"]
    assert (media["container"], media["video_codec"], media["audio_codec"]) == (
        "mp4",
        "h264",
        "aac",
    )
    assert (media["display_width"], media["display_height"], media["duration_s"]) == (
        64,
        114,
        61.0,
    )
    assert set(doc["platforms"]) == {"youtube", "snapchat", "x"}  # enabled ones only
    for verdict in doc["platforms"].values():
        assert set(verdict) == {"action", "profile", "reasons", "notes"}
    assert doc["platforms"]["youtube"]["action"] == "upload_as_is"
    snap = doc["platforms"]["snapchat"]
    assert (snap["action"], snap["profile"]) == ("reject", None)
    assert snap["reasons"][0].startswith("duration 61.0 s is above Snapchat's limit of 60 s")


def test_probe_of_a_corrupt_file_gives_ffprobes_reason(ws: Workspace, tmp_path: Path) -> None:
    bad = corrupt(tmp_path / "bad.mp4")
    code, out, _ = probe(ws, "--json", str(bad))
    assert code == 1
    assert json.loads(out) == {
        "file": str(bad),
        "error": "moov atom not found; Invalid data found when processing input",
    }
    assert bad.exists()
