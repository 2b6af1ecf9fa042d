"""escalations.sla.calendar: working intervals in a local zone, across weekends,
holidays and DST changes, converted to UTC. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import islice

import pytest

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar

LONDON = Calendar(is_24x7=False, tz="Europe/London")
NEW_YORK = Calendar(is_24x7=False, tz="America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def first(calendar: Calendar, start: datetime, n: int) -> list[tuple[datetime, datetime]]:
    return list(islice(calendar.open_intervals(start), n))


def test_24x7_is_one_endless_interval_from_start():
    start = utc(2026, 11, 20, 10)
    [(begin, end)] = first(TWENTY_FOUR_SEVEN, start, 5)
    assert begin == start
    assert end == datetime.max.replace(tzinfo=UTC)


def test_open_intervals_skip_the_weekend():
    # Friday 16:00 GMT: one hour left on Friday, then Monday and Tuesday 09–17.
    assert first(LONDON, utc(2026, 11, 20, 16), 3) == [
        (utc(2026, 11, 20, 16), utc(2026, 11, 20, 17)),
        (utc(2026, 11, 23, 9), utc(2026, 11, 23, 17)),
        (utc(2026, 11, 24, 9), utc(2026, 11, 24, 17)),
    ]


def test_open_intervals_start_outside_hours_begins_at_next_opening():
    assert first(LONDON, utc(2026, 11, 21, 12), 1) == [(utc(2026, 11, 23, 9), utc(2026, 11, 23, 17))]
    assert first(LONDON, utc(2026, 11, 23, 7), 1) == [(utc(2026, 11, 23, 9), utc(2026, 11, 23, 17))]
    # Exactly at closing time the day is over (intervals are half-open).
    assert first(LONDON, utc(2026, 11, 23, 17), 1) == [(utc(2026, 11, 24, 9), utc(2026, 11, 24, 17))]


def test_open_intervals_skip_holidays():
    christmas = Calendar(
        is_24x7=False, tz="Europe/London", holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)})
    )
    assert first(christmas, utc(2026, 12, 24, 16), 2) == [
        (utc(2026, 12, 24, 16), utc(2026, 12, 24, 17)),
        (utc(2026, 12, 29, 9), utc(2026, 12, 29, 17)),
    ]


def test_london_hours_follow_british_summer_time():
    # Spring forward on Sun 2026-03-29: Friday opens 09:00 GMT, Monday 09:00 BST (08:00 UTC).
    assert first(LONDON, utc(2026, 3, 27, 0), 2) == [
        (utc(2026, 3, 27, 9), utc(2026, 3, 27, 17)),
        (utc(2026, 3, 30, 8), utc(2026, 3, 30, 16)),
    ]
    # Fall back on Sun 2026-10-25: Friday 09:00 BST (08:00 UTC), Monday 09:00 GMT.
    assert first(LONDON, utc(2026, 10, 23, 0), 2) == [
        (utc(2026, 10, 23, 8), utc(2026, 10, 23, 16)),
        (utc(2026, 10, 26, 9), utc(2026, 10, 26, 17)),
    ]


def test_new_york_hours_follow_us_daylight_time():
    # US spring forward on Sun 2026-03-08: 09:00 EST is 14:00 UTC, 09:00 EDT is 13:00 UTC.
    assert first(NEW_YORK, utc(2026, 3, 6, 12), 2) == [
        (utc(2026, 3, 6, 14), utc(2026, 3, 6, 22)),
        (utc(2026, 3, 9, 13), utc(2026, 3, 9, 21)),
    ]


def test_zone_ahead_of_utc_opens_on_the_previous_utc_day():
    # Tokyo 09:00–17:00 is 00:00–08:00 UTC; a Sunday-evening UTC start is already Monday there.
    tokyo = Calendar(is_24x7=False, tz="Asia/Tokyo")
    assert first(tokyo, utc(2026, 11, 22, 23), 1) == [(utc(2026, 11, 23, 0), utc(2026, 11, 23, 8))]


def test_zone_behind_utc_still_open_on_the_previous_local_day():
    # 23:00 UTC Monday is 15:00 Monday in Los Angeles (PST): the local day is still open.
    la = Calendar(is_24x7=False, tz="America/Los_Angeles")
    assert first(la, utc(2026, 11, 23, 23), 1) == [(utc(2026, 11, 23, 23), utc(2026, 11, 24, 1))]


def test_working_day_across_the_dst_change_counts_real_seconds():
    # A Sunday 00:00–03:00 local shift is 4 real hours on fall-back day and 2 on spring-forward day.
    night = Calendar(is_24x7=False, tz="Europe/London", workdays=(6,), day_start=time(0), day_end=time(3))
    [(begin, end)] = first(night, utc(2026, 10, 24, 12), 1)
    assert (begin, end) == (utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert end - begin == timedelta(hours=4)
    [(begin, end)] = first(night, utc(2026, 3, 28, 12), 1)
    assert end - begin == timedelta(hours=2)


def test_opening_time_in_the_spring_forward_gap_maps_forward():
    # 01:30 does not exist in London on 2026-03-29; it opens at 02:30 BST (01:30 UTC).
    gap = Calendar(is_24x7=False, tz="Europe/London", workdays=(6,), day_start=time(1, 30), day_end=time(3))
    assert first(gap, utc(2026, 3, 28, 12), 1) == [(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 2))]


def test_naive_start_is_rejected():
    with pytest.raises(ValueError, match="naive"):
        next(LONDON.open_intervals(datetime(2026, 11, 20, 10)))
    with pytest.raises(ValueError, match="naive"):
        next(TWENTY_FOUR_SEVEN.open_intervals(datetime(2026, 11, 20, 10)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"is_24x7": False, "workdays": ()},
        {"is_24x7": False, "day_start": time(17), "day_end": time(9)},
        {"is_24x7": False, "day_start": time(9), "day_end": time(9)},
    ],
)
def test_unusable_business_calendar_is_rejected(kwargs):
    with pytest.raises(ValueError):
        Calendar(**kwargs)


def test_unknown_zone_is_rejected():
    with pytest.raises(Exception, match="Mars"):
        Calendar(tz="Mars/Olympus_Mons")


def test_calendar_with_every_working_day_a_holiday_gives_up():
    # One working weekday, and that weekday is a holiday every week for four years.
    mondays = frozenset(date(2026, 11, 23) + timedelta(weeks=n) for n in range(220))
    dead = Calendar(is_24x7=False, tz="UTC", workdays=(0,), holidays=mondays)
    with pytest.raises(ValueError, match="no working time"):
        next(dead.open_intervals(utc(2026, 11, 20, 10)))


def test_json_round_trip_business_calendar():
    cal = Calendar(
        is_24x7=False,
        tz="America/New_York",
        workdays=(0, 2, 4),
        day_start=time(8, 30),
        day_end=time(18, 15),
        holidays=frozenset({date(2026, 11, 26), date(2026, 12, 25)}),
    )
    data = cal.to_json()
    assert data == {
        "is_24x7": False,
        "tz": "America/New_York",
        "workdays": [0, 2, 4],
        "day_start": "08:30",
        "day_end": "18:15",
        "holidays": ["2026-11-26", "2026-12-25"],
    }
    assert Calendar.from_json(data) == cal


def test_json_round_trip_24x7_and_empty_snapshot():
    assert Calendar.from_json(TWENTY_FOUR_SEVEN.to_json()) == TWENTY_FOUR_SEVEN
    assert Calendar.from_json(Calendar(tz="Europe/Paris").to_json()) == Calendar(tz="Europe/Paris")
    # A case created before calendars were snapshotted counts every second.
    assert Calendar.from_json({}) == TWENTY_FOUR_SEVEN
    assert Calendar.from_json(None) == TWENTY_FOUR_SEVEN
