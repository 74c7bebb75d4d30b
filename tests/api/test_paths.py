"""Must-show 5: ``POST /api/jobs`` refuses paths outside the watched folders (``..``, absolute
paths elsewhere, symlinks leading out, NUL bytes, hidden folders) with 400, and reads nothing:
a real inotify watch on the outside folder sees no file there opened."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.events import FileClosedNoWriteEvent, FileOpenedEvent, FileSystemEventHandler
from watchdog.observers import Observer

from tests.api.support import LiveApi
from tests.support import make_clip, wait_for


class Opens(FileSystemEventHandler):
    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def on_any_event(self, event: object) -> None:
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent):
            with self._lock:
                self.paths.append(str(event.src_path))


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[tuple[Path, Opens]]:
    """A folder outside the watched ones holding a valid clip pair, under an inotify watch."""
    folder = tmp_path / "outside"
    make_clip(folder / "secret.mp4", seconds=1, seed=5)
    (folder / "secret.txt").write_text("not yours\n", encoding="utf-8")
    (folder / "sentinel").write_text("x", encoding="utf-8")
    opens = Opens()
    observer = Observer()
    observer.schedule(
        opens, str(folder), recursive=True, event_filter=[FileOpenedEvent, FileClosedNoWriteEvent]
    )
    observer.start()
    try:
        yield folder, opens
    finally:
        observer.stop()
        observer.join(10)


def _cases(live: LiveApi, outside: Path) -> list[str]:
    queue, out = live.ws.queue, live.ws.out
    links = queue / "links"
    links.mkdir(exist_ok=True)
    for name, target in (
        ("to_secret.mp4", outside / "secret.mp4"),
        ("to_secret.txt", outside / "secret.txt"),
        ("to_folder", outside),
    ):
        if not (links / name).is_symlink():
            (links / name).symlink_to(target)
    project = out / "default" / "proj_links"
    project.mkdir(parents=True, exist_ok=True)
    if not (project / "leak.mp4").is_symlink():
        (project / "leak.mp4").symlink_to(outside / "secret.mp4")
        (project / "leak.txt").symlink_to(outside / "secret.txt")
    return [
        f"{queue}/../outside/secret.mp4",
        f"{queue}/../../{outside.parent.name}/outside/secret.mp4",
        f"{queue}/sub/../secret.mp4",
        str(outside / "secret.mp4"),
        str(outside),
        "/etc/passwd",
        "/",
        "secret.mp4",
        f"{queue}/secret.mp4\x00.txt",
        "\x00",
        str(links / "to_secret.mp4"),
        str(links / "to_folder"),
        str(links / "to_folder" / "secret.mp4"),
        str(project),
        str(project / "leak.mp4"),
        str(queue / ".hidden" / "x.mp4"),
    ]


def test_paths_outside_the_watched_folders_are_refused_and_nothing_is_read(
    live: LiveApi, outside: tuple[Path, Opens]
) -> None:
    folder, opens = outside
    with live.client() as api:
        before = {j["job_id"] for j in api.get("/api/jobs", params={"limit": 100}).json()["jobs"]}
        for raw in _cases(live, folder):
            got = api.post("/api/jobs", json={"path": raw})
            assert got.status_code == 400, (raw, got.status_code, got.text)
            assert got.json()["detail"].startswith(("path:", str(live.ws.out))), (raw, got.text)
        after = {j["job_id"] for j in api.get("/api/jobs", params={"limit": 100}).json()["jobs"]}
    assert after == before  # nothing planned
    with (folder / "sentinel").open(encoding="utf-8") as handle:  # our own open, seen last
        handle.read()
    wait_for(lambda: any(p.endswith("sentinel") for p in opens.paths), 30, "the sentinel's open")
    assert [p for p in opens.paths if not p.endswith("sentinel")] == [], opens.paths


def test_a_bad_request_body_is_refused_before_any_file_is_looked_at(live: LiveApi) -> None:
    with live.client() as api:
        for body in (
            {},
            {"path": ""},
            {"path": str(live.ws.queue), "surprise": 1},
            {"path": str(live.ws.queue), "publish_at": "2030-01-01T00:00:00"},  # no zone
            {"path": str(live.ws.queue), "platforms": "youtube"},
        ):
            assert api.post("/api/jobs", json=body).status_code == 422, body
        got = api.post(
            "/api/jobs", json={"path": str(live.ws.queue), "publish_at": "2001-01-01T00:00:00Z"}
        )
        assert got.status_code == 400 and "in the past" in got.json()["detail"]
        empty = live.ws.queue / "empty_project"
        empty.mkdir(exist_ok=True)
        got = api.post("/api/jobs", json={"path": str(empty)})
        assert got.status_code == 400 and "no video" in got.json()["detail"]
        assert os.listdir(empty) == []


def test_a_fifo_named_like_a_video_is_refused_and_never_opened(live: LiveApi) -> None:
    """Opening a FIFO for reading blocks until a writer comes: the box walk must never try
    (it would hold a worker thread of the daemon for ever, and the request with it)."""
    project = live.ws.queue / "fifo_project"
    project.mkdir(exist_ok=True)
    if not (project / "pipe.mp4").exists():
        os.mkfifo(project / "pipe.mp4")
        (project / "pipe.txt").write_text("a caption\n", encoding="utf-8")
    with live.client() as api:
        for raw in (project, project / "pipe.mp4"):
            got = api.post("/api/jobs", json={"path": str(raw)})
            assert got.status_code == 400, (raw, got.status_code, got.text)
            assert "not a regular file" in got.json()["detail"], got.text


def test_a_name_too_long_is_a_400_and_a_huge_body_a_413(live: LiveApi) -> None:
    """A file name over the file system's limit is the client's mistake, not a 500; a body of
    megabytes is refused before it is parsed (it would be, on the daemon's event loop)."""
    with live.client() as api:
        for raw in (live.ws.queue / ("a" * 300), live.ws.queue / ("b" * 300 + ".mp4")):
            got = api.post("/api/jobs", json={"path": str(raw)})
            assert got.status_code == 400, (got.status_code, got.text[:200])
        huge = b'{"path": "' + b"/x" * 5_000_000 + b'"}'
        got = api.post("/api/jobs", content=huge, headers={"content-type": "application/json"})
        assert got.status_code == 413, (got.status_code, got.text[:200])

        def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
            yield b'{"path": "'
            for _ in range(200):
                yield b"/x" * 50_000
            yield b'"}'

        got = api.post("/api/jobs", content=chunks(), headers={"content-type": "application/json"})
        assert got.status_code == 413, (got.status_code, got.text[:200])
        small = api.post(  # chunked, small: read and passed on
            "/api/jobs",
            content=iter([b'{"path": "rel"}']),
            headers={"content-type": "application/json"},
        )
        assert small.status_code == 400 and small.json()["detail"].startswith("path:")
