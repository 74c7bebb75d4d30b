"""The pure debounce + pairing state machine, driven with explicit times."""

from __future__ import annotations

from pathlib import Path

import pytest

from atroposd.watch.mp4 import Mp4Check
from atroposd.watch.pairing import FileState, Kind, Pairing, Problem, Ready, classify

WALL = 1_700_000_000.0  # the wall clock at mono == 0
D = Path("/inbox/alice")
VIDEO, CAPTION, SIDECAR = D / "clip.mp4", D / "clip.txt", D / "clip.json"


def st(size: int, written_at: float, ino: int = 1) -> FileState:
    """A stat of a file last written at mono time ``written_at``."""
    ns = int((WALL + written_at) * 1e9)
    return FileState(size=size, mtime_ns=ns, ino=ino, ctime_ns=ns)


class Checker:
    """A scripted stand-in for mp4_check that counts its calls."""

    def __init__(self) -> None:
        self.answer: str | None = None
        self.open_ended = False
        self.calls = 0

    def __call__(self, path: Path) -> Mp4Check:
        self.calls += 1
        return Mp4Check(self.answer, self.open_ended)


@pytest.fixture
def check() -> Checker:
    return Checker()


def see(p: Pairing, path: Path, state: FileState | None, at: float) -> None:
    p.observe(path, state, mono=at, wall=WALL + at)


def test_ready_only_after_the_settle_period(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, 0), 0)
    see(p, CAPTION, st(10, 0), 0)
    assert p.poll(0, check) == []
    assert p.poll(1.99, check) == []
    assert p.has_pending()
    assert p.poll(2.0, check) == [Ready(VIDEO, CAPTION, None)]
    assert not p.has_pending()


def test_files_untouched_for_a_while_are_ready_at_first_sight(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(0, check) == [Ready(VIDEO, CAPTION, None)]


def test_future_mtime_does_not_make_a_file_quiet_early(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, 3600), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(1.9, check) == []
    assert p.poll(2.0, check) == [Ready(VIDEO, CAPTION, None)]


def test_a_size_change_restarts_the_quiet_period(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, 0), 0)
    see(p, CAPTION, st(10, -60), 0)
    see(p, VIDEO, st(200, 1.5), 1.5)
    assert p.poll(2.0, check) == []
    assert p.poll(3.49, check) == []
    assert p.poll(3.5, check) == [Ready(VIDEO, CAPTION, None)]


def test_a_replaced_file_with_the_same_size_and_mtime_counts_as_changed(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert len(p.poll(0, check)) == 1
    see(p, VIDEO, st(100, -60, ino=2), 5)
    assert p.poll(5, check) == [Ready(VIDEO, CAPTION, None)]


def test_caption_missing_is_reported_once_then_the_pair_is_ready(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, 0), 0)
    assert p.poll(1, check) == []
    problem = Problem(VIDEO, "caption missing: expected clip.txt")
    assert p.poll(2, check) == [problem]
    see(p, VIDEO, st(100, 0), 3)  # a rescan sees the same file again
    assert p.poll(3, check) == []
    assert p.poll(4, check) == []
    see(p, CAPTION, st(10, 10), 10)
    assert p.poll(11, check) == []
    assert p.poll(12, check) == [Ready(VIDEO, CAPTION, None)]


def test_a_present_sidecar_must_be_quiet_too(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    see(p, SIDECAR, st(5, 0), 0)
    assert p.poll(1, check) == []
    see(p, SIDECAR, st(9, 1), 1)
    assert p.poll(2.5, check) == []
    assert p.poll(3, check) == [Ready(VIDEO, CAPTION, SIDECAR)]


def test_a_sidecar_arriving_later_re_emits_the_pair(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(0, check) == [Ready(VIDEO, CAPTION, None)]
    see(p, SIDECAR, st(5, 5), 5)
    assert p.poll(7, check) == [Ready(VIDEO, CAPTION, SIDECAR)]


def test_a_pair_is_not_emitted_again_unless_a_file_changed(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert len(p.poll(0, check)) == 1
    for t in (1, 2, 30):
        see(p, VIDEO, st(100, -60), t)
        see(p, CAPTION, st(10, -60), t)
        assert p.poll(t, check) == []
    see(p, CAPTION, st(11, 40), 40)  # the caption was edited
    assert p.poll(41, check) == []
    assert p.poll(42, check) == [Ready(VIDEO, CAPTION, None)]


def test_the_video_check_gates_readiness_and_runs_once_per_file_state(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0, incomplete_seconds=30)
    check.answer = "truncated: box 'mdat' claims 9 bytes, only 5 remain"
    see(p, VIDEO, st(5, 0), 0)
    see(p, CAPTION, st(10, -60), 0)
    for t in (2, 3, 10, 29.9):
        assert p.poll(t, check) == []
    assert check.calls == 1
    check.answer = None
    see(p, VIDEO, st(9, 31), 31)  # the writer came back and finished
    assert p.poll(33, check) == [Ready(VIDEO, CAPTION, None)]
    assert check.calls == 2


def test_a_video_that_stays_incomplete_is_reported_once(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0, incomplete_seconds=30)
    check.answer = "no moov box"
    see(p, VIDEO, st(5, 0), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(29, check) == []
    assert p.poll(30, check) == [Problem(VIDEO, "video incomplete: no moov box")]
    assert p.poll(60, check) == []
    assert not p.has_pending()


def test_default_incomplete_period() -> None:
    assert Pairing(settle_seconds=0.5).incomplete_seconds == 30
    assert Pairing(settle_seconds=10).incomplete_seconds == 100


def test_empty_video_and_empty_caption_are_problems(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(0, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(0, check) == [Problem(VIDEO, "empty video")]
    see(p, VIDEO, st(100, 1), 1)
    see(p, CAPTION, st(0, 1), 1)
    assert p.poll(3, check) == [Problem(CAPTION, "empty caption: clip.txt")]
    assert p.poll(4, check) == []
    see(p, CAPTION, st(10, 5), 5)
    assert p.poll(7, check) == [Ready(VIDEO, CAPTION, None)]


def test_a_problem_is_reported_again_after_the_file_went_away_and_came_back(
    check: Checker,
) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    assert len(p.poll(0, check)) == 1
    see(p, VIDEO, st(100, -60, ino=2), 1)  # changed but still no caption: same reason
    assert p.poll(1, check) == []
    see(p, VIDEO, None, 2)
    assert p.known_paths() == set()
    see(p, VIDEO, st(100, -60), 3)
    assert p.poll(3, check) == [Problem(VIDEO, "caption missing: expected clip.txt")]


def test_retracted_pair_is_offered_again_after_rearm(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert len(p.poll(0, check)) == 1
    p.retract(VIDEO)
    assert p.poll(1, check) == []
    p.rearm()
    assert p.poll(2, check) == [Ready(VIDEO, CAPTION, None)]


def test_video_suffix_case_is_ignored_caption_is_lowercase_txt(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    video = D / "Clip.MOV"
    see(p, video, st(100, -60), 0)
    see(p, D / "Clip.txt", st(10, -60), 0)
    assert p.poll(0, check) == [Ready(video, D / "Clip.txt", None)]


def test_two_videos_with_one_stem_share_the_caption(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, D / "clip.mov", st(100, -60), 0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert {r.video for r in p.poll(0, check) if isinstance(r, Ready)} == {VIDEO, D / "clip.mov"}


def test_pending_paths_are_the_files_of_undecided_pairs(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, 0), 0)
    assert p.pending_paths() == {VIDEO, CAPTION, SIDECAR}
    see(p, CAPTION, st(10, -60), 0)
    p.poll(5, check)
    assert p.pending_paths() == set()


@pytest.mark.parametrize(
    "name",
    [
        ".clip.mp4.Ab12Cd",  # rsync
        ".hidden.mp4",
        "clip.mp4.part",
        "clip.mp4.tmp",
        "clip.mp4.crdownload",
        "clip.mp4~",
        "~$clip.txt",
        ".syncthing.clip.mp4.tmp",
        "~syncthing~clip.mp4.tmp",
        "clip.MP4.PART",
        "clip.avi",
        "notes.md",
        "clip.TXT",
    ],
)
def test_temporary_and_foreign_names_are_ignored(name: str, check: Checker) -> None:
    assert classify(name) is None
    p = Pairing(settle_seconds=2.0)
    see(p, D / name, st(100, -60), 0)
    assert p.known_paths() == set()
    assert p.poll(10, check) == []


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip.mp4", Kind.VIDEO),
        ("clip.MP4", Kind.VIDEO),
        ("a.b.m4v", Kind.VIDEO),
        ("clip.Mov", Kind.VIDEO),
        ("clip.txt", Kind.CAPTION),
        ("clip.json", Kind.SIDECAR),
    ],
)
def test_classify(name: str, kind: Kind) -> None:
    assert classify(name) is kind


def test_caption_removed_after_emission_is_not_a_problem(check: Checker) -> None:
    """Archiving a published clip may move the caption before the video."""
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert len(p.poll(0, check)) == 1
    see(p, CAPTION, None, 1)
    assert p.poll(5, check) == []
    assert not p.has_pending()


def test_a_file_open_for_writing_is_never_ready_until_closed(check: Checker) -> None:
    """A modify with no close-after-write since: not ready, however long the pause (§4.8)."""
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    p.written(VIDEO, True)
    assert p.poll(3600, check) == []
    assert p.writing_paths() == {VIDEO}
    assert p.take_held() == [VIDEO]
    assert p.poll(7200, check) == []
    assert p.take_held() == []  # told once
    p.written(VIDEO, False)
    assert p.poll(3600, check) == [Ready(VIDEO, CAPTION, None)]
    assert p.writing_paths() == set()


def test_a_caption_open_for_writing_holds_the_pair(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    p.written(CAPTION, True)
    assert p.poll(100, check) == []
    p.written(CAPTION, False)
    assert p.poll(100, check) == [Ready(VIDEO, CAPTION, None)]


def test_open_ended_fragmented_video_waits_the_longer_settle_even_closed(
    check: Checker,
) -> None:
    check.open_ended = True
    p = Pairing(settle_seconds=2.0, fragmented_settle_seconds=30.0)
    see(p, VIDEO, st(100, 0), 0)
    see(p, CAPTION, st(10, -60), 0)
    assert p.poll(29.9, check) == []
    assert p.poll(30, check) == [Ready(VIDEO, CAPTION, None)]
    other = D / "b.mp4"
    see(p, other, st(100, 100), 100)
    see(p, other.with_suffix(".txt"), st(10, 0), 100)
    p.written(other, False)  # a close proves nothing: the rest may be appended later
    assert p.poll(129.9, check) == []
    assert p.poll(130, check) == [Ready(other, other.with_suffix(".txt"), None)]


def test_lost_events_and_new_files_forget_the_writer(check: Checker) -> None:
    p = Pairing(settle_seconds=2.0)
    see(p, VIDEO, st(100, -60), 0)
    see(p, CAPTION, st(10, -60), 0)
    p.written(VIDEO, True)
    p.forget_writes([Path("/elsewhere")])
    assert p.writing_paths() == {VIDEO}
    p.forget_writes([D.parent])
    assert p.writing_paths() == set()
    p.written(VIDEO, True)
    p.written(VIDEO, None)  # a new file at this path (created, moved in)
    assert p.poll(10, check) == [Ready(VIDEO, CAPTION, None)]
    p.written(D / "untracked.mp4", True)  # never statted: not kept
    see(p, VIDEO, None, 11)
    assert p.writing_paths() == set()
