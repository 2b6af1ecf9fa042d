"""escalations.sla.deadlines: business days after a resolve (weekends, holidays, zones),
a date's due instant, the weekly digest's slot in a person's zone, the last complete
ISO week. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from escalations.sla.deadlines import (
    WorkingDays,
    business_days_after,
    date_due_at,
    last_complete_iso_week,
    weekly_slot_week,
)

ROUND_THE_CLOCK = WorkingDays(tz="UTC")
LONDON_OFFICE = WorkingDays(tz="Europe/London", day_end=time(17, 0))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_five_business_days_from_a_friday_skip_the_weekend():
    # Friday 20 Nov → Mon 23, Tue 24, Wed 25, Thu 26, Fri 27: due as Friday 27 ends.
    assert business_days_after(utc(2026, 11, 20, 10), 5, ROUND_THE_CLOCK) == utc(2026, 11, 28)


def test_a_holiday_is_not_a_business_day():
    with_holiday = WorkingDays(tz="UTC", holidays=frozenset({date(2026, 11, 25)}))
    assert business_days_after(utc(2026, 11, 20, 10), 5, with_holiday) == utc(2026, 12, 1)


def test_a_resolve_on_a_saturday_counts_from_monday():
    assert business_days_after(utc(2026, 11, 21, 15), 1, ROUND_THE_CLOCK) == utc(2026, 11, 24)


def test_business_hours_calendars_end_the_day_at_closing_time_in_their_zone():
    # 17:00 London is 17:00 UTC in winter and 16:00 UTC in summer.
    assert business_days_after(utc(2026, 11, 20, 10), 2, LONDON_OFFICE) == utc(2026, 11, 24, 17)
    assert business_days_after(utc(2026, 7, 3, 10), 2, LONDON_OFFICE) == utc(2026, 7, 7, 16)


def test_the_day_is_the_local_date_of_the_resolve():
    # 23:30 UTC on Friday is already Saturday in Tokyo: the count starts from Saturday.
    tokyo = WorkingDays(tz="Asia/Tokyo")
    # One business day after Saturday is Monday, which ends at Tuesday 00:00 in Tokyo.
    assert business_days_after(utc(2026, 11, 20, 23, 30), 1, tokyo) == utc(2026, 11, 23, 15)


def test_zero_days_is_the_end_of_the_day_or_of_the_next_business_day():
    assert business_days_after(utc(2026, 11, 20, 10), 0, ROUND_THE_CLOCK) == utc(2026, 11, 21)
    assert business_days_after(utc(2026, 11, 21, 10), 0, ROUND_THE_CLOCK) == utc(2026, 11, 24)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        business_days_after(datetime(2026, 11, 20, 10), 1, ROUND_THE_CLOCK)
    with pytest.raises(ValueError):
        business_days_after(utc(2026, 11, 20, 10), -1, ROUND_THE_CLOCK)
    with pytest.raises(ValueError):
        WorkingDays(workdays=())


def test_an_action_item_is_overdue_from_midnight_after_its_date_where_the_case_lives():
    assert date_due_at(date(2026, 11, 27), "UTC") == utc(2026, 11, 28)
    assert date_due_at(date(2026, 11, 27), "America/New_York") == utc(2026, 11, 28, 5)


@pytest.mark.parametrize(
    "now,tz,expected",
    [
        (utc(2026, 11, 23, 7, 59), "Europe/London", None),
        (utc(2026, 11, 23, 8, 0), "Europe/London", "2026-W48"),
        (utc(2026, 11, 25, 12, 0), "Europe/London", "2026-W48"),  # missed slot: still due this week
        (utc(2026, 11, 23, 8, 0), "America/Los_Angeles", None),  # 00:00 there
        (utc(2026, 11, 23, 16, 0), "America/Los_Angeles", "2026-W48"),
        (utc(2026, 11, 22, 23, 0), "Asia/Tokyo", "2026-W48"),  # Monday 08:00 in Tokyo
        (utc(2026, 11, 22, 22, 59), "Asia/Tokyo", None),
    ],
)
def test_the_weekly_slot_comes_at_its_local_time_in_each_zone(now, tz, expected):
    assert weekly_slot_week(now, tz=tz, weekday=0, hour=8, minute=0) == expected


def test_a_later_weekday_slot():
    assert weekly_slot_week(utc(2026, 11, 23, 9), tz="UTC", weekday=4, hour=16, minute=30) is None
    assert weekly_slot_week(utc(2026, 11, 27, 16, 30), tz="UTC", weekday=4, hour=16, minute=30) == "2026-W48"


def test_the_last_complete_iso_week():
    assert last_complete_iso_week(utc(2026, 11, 23, 0, 0)) == "2026-W47"
    assert last_complete_iso_week(utc(2026, 11, 22, 23, 59)) == "2026-W46"
    assert last_complete_iso_week(utc(2027, 1, 4, 8)) == "2026-W53"
