"""The forecast against run-out dates computed by hand (the computation is in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from atroposd.config import UploadConfig
from atroposd.schedule.forecast import LaneForecast, forecast, lanes_of, upcoming
from atroposd.store.queue import QueuedPost

# Monday 2 March 2026, 08:00 in New York (EST, UTC-5), 13:00 in London (GMT).
NOW = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
HOURLY = [f"{h:02d}:00" for h in range(24)]


def raw_config() -> dict[str, Any]:
    """The fixture's upload_config.json."""
    return {
        "default_account": "alice",
        "accounts": {
            "alice": {
                "schedule": {
                    "timezone": "America/New_York",
                    "slots": {"mon-fri": ["09:00", "18:00"], "sat": ["12:00"]},
                },
                "platforms": {
                    "youtube": {"enabled": True},
                    # 24 slots a day: more than TikTok's ~15 posts per creator per 24 h.
                    "tiktok": {"enabled": True, "schedule": {"slots": {"daily": HOURLY}}},
                },
            },
            "bob": {
                "schedule": {"timezone": "Europe/London", "cron": "30 7 * * *"},
                "platforms": {
                    "instagram": {"enabled": True},
                    "facebook": {"enabled": True},
                    "x": {"enabled": True, "schedule": {"mode": "immediate"}},
                },
            },
        },
    }


def config() -> UploadConfig:
    return UploadConfig.model_validate(raw_config())


def posts(account: str, platform: str, n: int, first_id: int, **kw: Any) -> list[QueuedPost]:
    return [
        QueuedPost(
            id=first_id + i,
            account=account,
            platform=platform,
            clip=f"{platform}-{i:03d}.mp4",
            created_at=NOW - timedelta(days=30) + timedelta(minutes=i),
            pinned_at=kw.get("publish_at"),
            sidecar_json=kw.get("sidecar_json"),
        )
        for i in range(n)
    ]


def queue() -> list[QueuedPost]:
    pinned = datetime.fromisoformat("2026-03-05T12:00:00-05:00")
    return [
        *posts("alice", "youtube", 13, 1000),
        *posts("alice", "youtube", 1, 2000, publish_at=pinned),  # takes no slot
        *posts("alice", "tiktok", 40, 3000),
        *posts("bob", "instagram", 30, 4000),
        *posts("bob", "x", 2, 5000),
    ]


def by_lane() -> dict[tuple[str, str], LaneForecast]:
    return {(f.account, f.platform): f for f in forecast(lanes_of(config().accounts), queue(), NOW)}


def test_weekly_slots_run_out_on_the_hand_computed_slot_across_the_dst_change() -> None:
    # 13 clips; slots after Mon 08:00 EST: Mon 2 09:00 (1), 18:00 (2), Tue 3 (3, 4), Wed 4
    # (5, 6), Thu 5 (7, 8), Fri 6 (9, 10), Sat 7 12:00 (11), no Sunday slot; New York moves to
    # EDT on Sun 8 March; Mon 9 09:00 (12), 18:00 (13) -> 2026-03-09T18:00-04:00.
    # Days left: 2026-03-09T22:00Z - 2026-03-02T13:00Z = 7 d 9 h = 7.375 -> 7.38 (rounded).
    # A week of slots: 5 x 2 + 1 = 11. The pinned clip is queued (14) but takes no slot.
    f = by_lane()[("alice", "youtube")]
    assert f.queued == 14 and f.posts_per_week == 11 and f.mode == "slots"
    assert f.runs_out_at is not None
    assert f.runs_out_at.isoformat() == "2026-03-09T18:00:00-04:00"
    assert f.days_left == 7.38 and f.binding_limit == "schedule"


def test_the_tiktok_cap_binds_before_an_hourly_schedule() -> None:
    # 40 clips, a slot every hour, at most 15 posts per rolling 24 h: Mon 09:00..23:00 (15);
    # Tue 00:00..08:00 refused (15 in the last 24 h); Tue 09:00 (Mon 09:00 has left the
    # window)..23:00 (15, 30 in all); Wed 09:00..18:00 (10) -> 2026-03-04T18:00-05:00.
    # Days left: 2026-03-04T23:00Z - 2026-03-02T13:00Z = 2 d 10 h = 2.4167 -> 2.42.
    # A week of slots (after Mon 08:00 up to and including the next Mon 08:00 on New York's
    # clock): 24 x 7 = 168, less Sun 8 March 02:00, which does not exist (it fires at 03:00,
    # once with the 03:00 slot) = 167.
    f = by_lane()[("alice", "tiktok")]
    assert f.queued == 40 and f.posts_per_week == 167
    assert f.runs_out_at is not None
    assert f.runs_out_at.isoformat() == "2026-03-04T18:00:00-05:00"
    assert f.days_left == 2.42 and f.binding_limit == "tiktok_posts_24h"


def test_a_daily_cron_in_london_crosses_british_summer_time() -> None:
    # 30 clips, 07:30 London daily; the first after Mon 2 13:00 GMT is Tue 3 07:30, the 30th is
    # 29 days later, Wed 1 April; BST (UTC+1) from Sun 29 March -> 2026-04-01T07:30+01:00.
    # Days left: 2026-04-01T06:30Z - 2026-03-02T13:00Z = 29 d 17.5 h = 29.729 -> 29.73.
    lanes = by_lane()
    f = lanes[("bob", "instagram")]
    assert f.runs_out_at is not None
    assert f.runs_out_at.isoformat() == "2026-04-01T07:30:00+01:00"
    assert (f.queued, f.posts_per_week, f.days_left) == (30, 7, 29.73)
    assert f.binding_limit == "schedule"
    # Nothing queued on a slotted lane: no run-out date, no days left.
    empty = lanes[("bob", "facebook")]
    assert (empty.queued, empty.runs_out_at, empty.days_left) == (0, None, 0.0)
    # An immediate lane has no schedule to forecast.
    x = lanes[("bob", "x")]
    assert (x.mode, x.queued, x.posts_per_week, x.runs_out_at) == ("immediate", 2, None, None)


def test_youtubes_project_quota_is_shared_by_the_accounts() -> None:
    # Two channels, a slot every 15 minutes each (96 a day: under YouTube's 100 uploads a day
    # per project alone, 192 together), 100 clips each. NOW2 is midnight Pacific (08:00Z).
    # Day 1 (Pacific): slots 08:15Z.. alternate c1, c2; the 100 uploads are spent after 50
    # slot times, 08:15Z + 49 x 15 min = 20:30Z. Day 2 starts at 2026-03-03T08:00Z (a slot):
    # 50 more slots each, 08:00Z + 49 x 15 min = 20:15Z -> both run out 2026-03-03T20:15Z.
    # Alone, c1's 100 clips fill 100 slots: 08:15Z + 99 x 15 min = 2026-03-03T09:00Z.
    now2 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    every15 = {"timezone": "UTC", "cron": "*/15 * * * *"}
    yt = {"youtube": {"enabled": True}}
    accounts = {name: {"schedule": every15, "platforms": yt} for name in ("c1", "c2")}
    both = UploadConfig.model_validate({"default_account": "c1", "accounts": accounts})
    waiting = [*posts("c1", "youtube", 100, 1), *posts("c2", "youtube", 100, 1000)]
    rows = forecast(lanes_of(both.accounts), waiting, now2)
    assert [r.runs_out_at.isoformat() if r.runs_out_at else None for r in rows] == [
        "2026-03-03T20:15:00+00:00",
        "2026-03-03T20:15:00+00:00",
    ]
    assert {r.binding_limit for r in rows} == {"youtube_uploads_per_day"}
    alone = forecast(lanes_of(both.accounts), waiting[:100], now2)[0]
    assert alone.runs_out_at is not None
    assert alone.runs_out_at.isoformat() == "2026-03-03T09:00:00+00:00"
    assert alone.binding_limit == "schedule"


def test_upcoming_lists_pinned_posts_at_their_time_and_the_rest_in_queue_order() -> None:
    # alice's YouTube until Tue 08:00 EST: Mon 09:00 the clip whose sidecar says order 1 (the
    # newest), Mon 12:00 the pinned clip, Mon 18:00 the oldest unordered clip. bob's X posts
    # immediately: listed at now.
    pinned = datetime.fromisoformat("2026-03-02T12:00:00-05:00")
    waiting = [
        *posts("alice", "youtube", 2, 10),
        *posts("alice", "youtube", 1, 20, sidecar_json='{"order": 1}'),
        *posts("alice", "youtube", 1, 30, publish_at=pinned),
        *posts("bob", "x", 1, 40),
    ]
    rows = upcoming(lanes_of(config().accounts), waiting, NOW, NOW + timedelta(days=1))
    got = [(r.at.isoformat(), r.account, r.platform, r.post_id) for r in rows]
    assert got == [
        ("2026-03-02T13:00:00+00:00", "bob", "x", 40),
        ("2026-03-02T09:00:00-05:00", "alice", "youtube", 20),
        ("2026-03-02T12:00:00-05:00", "alice", "youtube", 30),
        ("2026-03-02T18:00:00-05:00", "alice", "youtube", 10),
    ]


def test_a_natively_scheduled_post_holds_its_slot() -> None:
    # A post already on YouTube for Mon 09:00 (state scheduled, publish_at = the slot): the two
    # waiting clips take Mon 18:00 and Tue 09:00 -> run-out 2026-03-03T09:00-05:00.
    slot = datetime.fromisoformat("2026-03-02T09:00:00-05:00")
    waiting = [*posts("alice", "youtube", 2, 10), *posts("alice", "youtube", 1, 5, publish_at=slot)]
    lanes = lanes_of(config().accounts)
    f = next(r for r in forecast(lanes, waiting, NOW) if r.platform == "youtube")
    assert f.queued == 3 and f.runs_out_at is not None
    assert f.runs_out_at.isoformat() == "2026-03-03T09:00:00-05:00"
    rows = upcoming(lanes, waiting, NOW, NOW + timedelta(days=2))
    assert [(r.at.isoformat(), r.post_id) for r in rows if r.platform == "youtube"] == [
        ("2026-03-02T09:00:00-05:00", 5),
        ("2026-03-02T18:00:00-05:00", 10),
        ("2026-03-03T09:00:00-05:00", 11),
    ]


def test_a_week_of_a_daily_slot_is_seven_posts_also_asked_at_the_slot_itself() -> None:
    """One end of the week is in it: asked at 07:30 exactly (the slot goes now, so the next
    one is a week of seven slots away), or a minute later, a daily slot is 7 posts a week."""
    lanes = lanes_of(config().accounts)
    at_slot = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)  # Tue 07:30 in London (GMT)
    for now in (at_slot, at_slot + timedelta(minutes=1)):
        rows = {(f.account, f.platform): f for f in forecast(lanes, [], now)}
        assert rows[("bob", "instagram")].posts_per_week == 7, now


def test_a_post_pinned_far_ahead_on_a_slot_does_not_hide_an_empty_queue() -> None:
    # alice's YouTube from Mon 08:00 EST: 2 waiting clips take Mon 09:00 and Mon 18:00; the
    # clips natively scheduled for Tue 09:00 and Tue 18:00 fill the next two slots -> runs out
    # Tue 18:00. Wed 09:00 finds nothing: the channel is dry from there, whatever is pinned
    # later (a clip pinned a month ahead on a slot, Fri 3 April 09:00, does not move it).
    native = [
        datetime.fromisoformat(f"2026-03-0{d}T{t}:00-05:00") for d, t in ((3, "09"), (3, "18"))
    ]
    far = datetime.fromisoformat("2026-04-03T09:00:00-04:00")
    waiting = [
        *posts("alice", "youtube", 2, 10),
        *posts("alice", "youtube", 1, 20, publish_at=native[0]),
        *posts("alice", "youtube", 1, 21, publish_at=native[1]),
        *posts("alice", "youtube", 1, 30, publish_at=far),
    ]
    f = next(
        r for r in forecast(lanes_of(config().accounts), waiting, NOW) if r.platform == "youtube"
    )
    assert f.queued == 5 and f.runs_out_at is not None
    assert f.runs_out_at.isoformat() == "2026-03-03T18:00:00-05:00"
    # Days left: 2026-03-03T23:00Z - 2026-03-02T13:00Z = 1 d 10 h = 1.42 (within 3: warned).
    assert f.days_left == 1.42
    rows = upcoming(lanes_of(config().accounts), waiting, NOW, far)
    assert [r.post_id for r in rows if r.platform == "youtube"] == [10, 11, 20, 21, 30]
