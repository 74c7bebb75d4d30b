"""Slot arithmetic: weekly slots and cron in a zone, across DST, spacing, validation, order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from atroposd.config import load_upload_config
from atroposd.errors import ConfigError
from atroposd.schedule.model import ScheduleConfig
from atroposd.schedule.slots import (
    Queued,
    effective_schedule,
    last_slot,
    next_slot,
    queue_order,
    sidecar_order,
    slot_instants,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(instants: list[datetime], tz: ZoneInfo) -> list[str]:
    return [t.astimezone(tz).strftime("%a %m-%d %H:%M %Z") for t in instants]


def test_weekday_slots_in_new_york() -> None:
    s = ScheduleConfig(
        timezone="America/New_York", slots={"mon-fri": ["09:00", "18:00"], "sat": ["12:00"]}
    )
    got = list(slot_instants(s, utc(2026, 12, 4), utc(2026, 12, 8)))  # Fri 4 .. Mon 7
    assert local(got, NY) == [
        "Fri 12-04 09:00 EST",
        "Fri 12-04 18:00 EST",
        "Sat 12-05 12:00 EST",
        "Mon 12-07 09:00 EST",
        "Mon 12-07 18:00 EST",
    ]
    assert got[0] == utc(2026, 12, 4, 14)  # EST = UTC-5
    assert all(t.tzinfo is UTC for t in got)


def test_new_york_spring_forward_skipped_time_fires_at_next_valid_minute() -> None:
    s = ScheduleConfig(timezone="America/New_York", slots={"daily": ["02:30", "09:00"]})
    got = list(slot_instants(s, utc(2026, 3, 7), utc(2026, 3, 10)))
    assert local(got, NY) == [
        "Sat 03-07 02:30 EST",
        "Sat 03-07 09:00 EST",
        "Sun 03-08 03:00 EDT",  # 02:30 does not exist on 8 March: the next valid minute
        "Sun 03-08 09:00 EDT",
        "Mon 03-09 02:30 EDT",
        "Mon 03-09 09:00 EDT",
    ]
    assert got[3] == utc(2026, 3, 8, 13)  # 09:00 EDT = UTC-4 after the change


def test_new_york_fall_back_repeated_time_fires_once() -> None:
    s = ScheduleConfig(timezone="America/New_York", slots={"sun": ["01:30"]})
    got = list(slot_instants(s, utc(2026, 10, 31), utc(2026, 11, 2)))
    assert got == [utc(2026, 11, 1, 5, 30)]  # the first 01:30 (EDT), not also 06:30 UTC (EST)


def test_london_changes_with_cron() -> None:
    s = ScheduleConfig(timezone="Europe/London", cron="30 1 * * *")
    spring = list(slot_instants(s, utc(2026, 3, 28), utc(2026, 3, 31)))
    assert local(spring, LONDON) == [
        "Sat 03-28 01:30 GMT",
        "Sun 03-29 02:00 BST",  # 01:30 skipped on 29 March: 02:00 BST
        "Mon 03-30 01:30 BST",
    ]
    autumn = list(slot_instants(s, utc(2026, 10, 24), utc(2026, 10, 27)))
    assert autumn == [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


def test_sydney_southern_hemisphere_changes_and_kolkata_without_dst() -> None:
    syd = ZoneInfo("Australia/Sydney")
    s = ScheduleConfig(timezone="Australia/Sydney", slots={"daily": ["02:30", "09:00"]})
    # Sun 5 April 2026: 03:00 AEDT -> 02:00 AEST, 02:30 happens twice: once, the first.
    got = list(slot_instants(s, utc(2026, 4, 4, 12), utc(2026, 4, 5, 12)))
    assert local(got, syd) == ["Sun 04-05 02:30 AEDT", "Sun 04-05 09:00 AEST"]
    assert got[0] == utc(2026, 4, 4, 15, 30)
    # Sun 4 October 2026: 02:00 AEST -> 03:00 AEDT, 02:30 does not exist: 03:00.
    got = list(slot_instants(s, utc(2026, 10, 3, 12), utc(2026, 10, 4, 12)))
    assert local(got, syd) == ["Sun 10-04 03:00 AEDT", "Sun 10-04 09:00 AEDT"]
    kolkata = ScheduleConfig(timezone="Asia/Kolkata", slots={"daily": ["09:00"]})
    got = list(slot_instants(kolkata, utc(2026, 3, 1), utc(2026, 11, 30)))
    assert {t.astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:%M") for t in got} == {"09:00"}
    assert {(t.hour, t.minute) for t in got} == {(3, 30)} and len(got) == 274


def test_two_skipped_times_landing_on_one_minute_fire_once() -> None:
    s = ScheduleConfig(timezone="America/New_York", slots={"sun": ["02:10", "02:40", "03:00"]})
    assert list(slot_instants(s, utc(2026, 3, 8), utc(2026, 3, 9))) == [utc(2026, 3, 8, 7)]


def test_min_spacing_keeps_the_first_and_is_the_same_whatever_the_window() -> None:
    s = ScheduleConfig(cron="0,20,40 9,10 * * *", min_spacing_minutes=30)
    day = list(slot_instants(s, utc(2026, 12, 1), utc(2026, 12, 2)))
    assert [t.strftime("%H:%M") for t in day] == ["09:00", "09:40", "10:20"]
    # A window opening between slots sees the same instants after it.
    later = list(slot_instants(s, utc(2026, 12, 1, 9, 10), utc(2026, 12, 2)))
    assert later == day[1:]


def test_cron_both_day_fields_is_either_and_names_work() -> None:
    s = ScheduleConfig(cron="0 12 1 * fri")  # the 1st of the month OR a Friday
    got = list(slot_instants(s, utc(2026, 12, 1), utc(2027, 1, 2)))
    assert [t.day for t in got] == [1, 4, 11, 18, 25, 1]


def test_last_and_next_slot() -> None:
    s = ScheduleConfig(timezone="America/New_York", slots={"mon-fri": ["09:00", "18:00"]})
    saturday = utc(2026, 12, 5, 15)
    assert last_slot(s, saturday) == utc(2026, 12, 4, 23)  # Friday 18:00 EST
    assert next_slot(s, saturday) == utc(2026, 12, 7, 14)  # Monday 09:00 EST
    assert last_slot(s, utc(2026, 12, 4, 23)) == utc(2026, 12, 4, 23)  # at counts


@pytest.mark.parametrize(
    ("block", "key", "says"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "'Mars/Olympus' is not an IANA time zone"),
        ({"slots": {"mon-fry": ["09:00"]}}, "slots", "'fry' is not a day"),
        ({"slots": {"mon": ["9am"]}}, "slots", "'9am' is not a time"),
        ({"slots": {"mon": ["24:00"]}}, "slots", "'24:00' is not a time"),
        ({"cron": "0 9 * *"}, "cron", "cron '0 9 * *': needs five fields"),
        ({"cron": "0 25 * * *"}, "cron", "'25' is out of range 0-23"),
        ({"mode": "slots"}, "(top level)", "mode 'slots' needs slots"),
    ],
)
def test_config_errors_name_the_account_key_and_bad_value(
    tmp_path: Path, block: dict[str, object], key: str, says: str
) -> None:
    path = tmp_path / "upload_config.json"
    config = {"accounts": {"default": {"platforms": {"youtube": {}}, "schedule": block}}}
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError) as err:
        load_upload_config(path)
    text = str(err.value)
    where = "accounts.default.schedule" + ("" if key == "(top level)" else f".{key}")
    assert f"{path}: {where}: " in text
    assert says in text
    assert "Value error" not in text


def test_platform_error_names_the_platform_block(tmp_path: Path) -> None:
    path = tmp_path / "upload_config.json"
    bad = {"youtube": {"schedule": {"cron": "* * * * * *"}}}
    config = {"accounts": {"shop": {"platforms": bad}}, "default_account": "shop"}
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"accounts\.shop\.platforms\.youtube\.schedule\.cron"):
        load_upload_config(path)


def _account(tmp_path: Path, account: dict[str, object]) -> object:
    path = tmp_path / "upload_config.json"
    path.write_text(json.dumps({"accounts": {"default": account}}))
    return load_upload_config(path).accounts["default"]


def test_effective_schedule_platform_overrides_account(tmp_path: Path) -> None:
    acc = _account(
        tmp_path,
        {
            "schedule": {"timezone": "Europe/London", "slots": {"daily": ["09:00"]}},
            "platforms": {
                "youtube": {"schedule": {"cron": "0 18 * * *"}},
                "tiktok": {"schedule": {"min_spacing_minutes": 30}},
                "x": {"schedule": {"mode": "immediate"}},
                "instagram": {},
            },
        },
    )
    yt = effective_schedule(acc, "youtube")  # type: ignore[arg-type]
    assert yt is not None and yt.cron == "0 18 * * *" and yt.slots is None
    assert yt.timezone == "Europe/London"  # unset fields come from the account
    tt = effective_schedule(acc, "tiktok")  # type: ignore[arg-type]
    assert tt is not None and tt.slots == {"daily": ["09:00"]} and tt.min_spacing_minutes == 30
    assert effective_schedule(acc, "x") is None  # type: ignore[arg-type]
    ig = effective_schedule(acc, "instagram")  # type: ignore[arg-type]
    assert ig is not None and ig.slots == {"daily": ["09:00"]}


def test_no_slots_is_immediate(tmp_path: Path) -> None:
    acc = _account(tmp_path, {"schedule": {"timezone": "Europe/London"}, "platforms": {"x": {}}})
    assert effective_schedule(acc, "x") is None  # type: ignore[arg-type]
    plain = _account(tmp_path, {"platforms": {"x": {}}})
    assert effective_schedule(plain, "x") is None  # type: ignore[arg-type]


def test_queue_order_explicit_order_first_then_oldest() -> None:
    t0 = utc(2026, 12, 1)
    items = [
        Queued(1, t0),
        Queued(2, t0 + timedelta(minutes=1), order=5),
        Queued(3, t0 - timedelta(minutes=1)),
        Queued(4, t0 + timedelta(minutes=2), order=1),
    ]
    assert [q.post_id for q in queue_order(items)] == [4, 2, 3, 1]


def test_sidecar_order_is_read_from_the_stored_sidecar() -> None:
    assert sidecar_order('{"order": 3, "title": "x"}') == 3.0
    assert sidecar_order('{"title": "x"}') is None
    assert sidecar_order(None) is None
    assert sidecar_order('{"order": true}') is None


def test_a_sidecar_may_give_an_order(tmp_path: Path) -> None:
    from atroposd.pipeline.intake import parse_sidecar

    path = tmp_path / "clip.json"
    path.write_text(json.dumps({"order": 2, "title": "t"}))
    model = parse_sidecar(path, {"youtube"})
    assert model.order == 2 and sidecar_order(model.model_dump_json()) == 2.0
