"""Properties of the clock maths (escalations.sla) over random calendars, pauses and
times, checked with hypothesis. No database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar
from escalations.sla.clock import (
    FAR_FUTURE,
    ClockStatus,
    Pause,
    clock_state,
    due_at,
    elapsed,
    pauses_until,
    warn_at,
)

# Sized for a fast suite; every test here is pure arithmetic.
FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=40, deadline=None)

ZONES = ["UTC", "Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata"]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

minutes = st.integers(min_value=0, max_value=60 * 24 * 400)  # up to ~13 months after EPOCH
instants = minutes.map(lambda m: EPOCH + m * MINUTE)
targets = st.integers(min_value=0, max_value=60 * 200).map(lambda m: m * MINUTE)


@st.composite
def business_calendars(draw, *, hour_min: int = 0) -> Calendar:
    start_minute = draw(st.integers(min_value=hour_min * 60, max_value=22 * 60))
    end_minute = draw(st.integers(min_value=start_minute + 15, max_value=24 * 60 - 1))
    workdays = tuple(sorted(draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))))
    holidays = draw(st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 3, 1)), max_size=5))
    return Calendar(
        is_24x7=False,
        tz=draw(st.sampled_from(ZONES)),
        workdays=workdays,
        day_start=time(start_minute // 60, start_minute % 60),
        day_end=time(end_minute // 60, end_minute % 60),
        holidays=holidays,
    )


calendars = st.one_of(st.just(TWENTY_FOUR_SEVEN), business_calendars())


@st.composite
def pause_lists(draw, start: datetime, *, allow_open: bool = True) -> list[Pause]:
    """Closed pauses near ``start`` (some before it), optionally one open at the end."""
    pauses = []
    for _ in range(draw(st.integers(0, 3))):
        begin = start + draw(st.integers(-600, 60 * 24 * 10)) * MINUTE
        pauses.append(Pause(begin, begin + draw(st.integers(0, 60 * 48)) * MINUTE))
    if allow_open and draw(st.booleans()):
        pauses.append(Pause(start + draw(st.integers(-60, 60 * 24 * 10)) * MINUTE))
    return pauses


def paused_wall_time(pauses: list[Pause], start: datetime, now: datetime) -> timedelta:
    """Wall time in [start, now) covered by at least one pause (a simple minute-free union)."""
    spans = sorted((max(p.start, start), min(p.end or now, now)) for p in pauses)
    total, cursor = timedelta(0), start
    for begin, end in spans:
        begin = max(begin, cursor)
        if end > begin:
            total += end - begin
            cursor = end
    return total


@FAST
@given(data=st.data(), start=instants, calendar=calendars)
def test_elapsed_never_counts_paused_or_off_hours_time(data, start, calendar):
    pauses = data.draw(pause_lists(start))
    now = start + data.draw(st.integers(0, 60 * 24 * 14)) * MINUTE
    spent = elapsed(start, now, pauses, calendar)
    assert timedelta(0) <= spent <= (now - start) - paused_wall_time(pauses, start, now)
    assert spent <= elapsed(start, now, (), calendar)


@FAST
@given(data=st.data(), start=instants, calendar=calendars)
def test_elapsed_is_flat_inside_a_pause(data, start, calendar):
    begin = start + data.draw(st.integers(0, 60 * 24 * 5)) * MINUTE
    length = data.draw(st.integers(1, 60 * 24 * 3)) * MINUTE
    pause = Pause(begin, begin + length)
    inside = begin + data.draw(st.integers(0, int(length / MINUTE))) * MINUTE
    assert elapsed(start, inside, [pause], calendar) == elapsed(start, begin, [pause], calendar)


@FAST
@given(data=st.data(), start=instants, calendar=business_calendars())
def test_elapsed_is_flat_outside_working_hours(data, start, calendar):
    # Between the end of one working interval and the start of the next nothing counts.
    intervals = calendar.open_intervals(start)
    _, closes = next(intervals)
    opens, _ = next(intervals)
    gap = int((opens - closes) / MINUTE)
    t = closes + data.draw(st.integers(0, gap)) * MINUTE
    assert elapsed(start, t, (), calendar) == elapsed(start, closes, (), calendar)
    # And the interval [closes, t) itself holds no working time.
    assert elapsed(closes, t, (), calendar) == timedelta(0)


@FAST
@given(data=st.data(), start=instants, calendar=calendars)
def test_elapsed_is_monotone_in_now(data, start, calendar):
    pauses = data.draw(pause_lists(start))
    a, b = sorted(data.draw(st.lists(st.integers(-60, 60 * 24 * 14), min_size=2, max_size=2)))
    assert elapsed(start, start + a * MINUTE, pauses, calendar) <= elapsed(start, start + b * MINUTE, pauses, calendar)


@FAST
@given(data=st.data(), start=instants, calendar=calendars)
def test_due_at_is_monotone_in_the_target(data, start, calendar):
    pauses = data.draw(pause_lists(start, allow_open=False))
    shorter, longer = sorted(data.draw(st.lists(targets, min_size=2, max_size=2)))
    assert due_at(start, shorter, pauses, calendar) <= due_at(start, longer, pauses, calendar)


@FAST
@given(data=st.data(), start=instants, target=targets, calendar=calendars)
def test_elapsed_at_the_due_time_is_the_target(data, start, target, calendar):
    pauses = data.draw(pause_lists(start, allow_open=False))
    due = due_at(start, target, pauses, calendar)
    assert due is not None and due >= start
    assert elapsed(start, due, pauses, calendar) == target
    # ...and not a moment earlier.
    if target > timedelta(0):
        assert elapsed(start, due - MINUTE / 60, pauses, calendar) < target


@FAST
@given(data=st.data(), start=instants, target=targets, calendar=calendars)
def test_due_at_is_none_while_an_open_pause_started_before_it(data, start, target, calendar):
    closed = data.draw(pause_lists(start, allow_open=False))
    open_start = start + data.draw(st.integers(-60, 60 * 24 * 10)) * MINUTE
    unpaused_due = due_at(start, target, closed, calendar)
    frozen_due = due_at(start, target, [*closed, Pause(open_start)], calendar)
    if target == timedelta(0):
        assert frozen_due == unpaused_due == start  # counted time 0 reaches a zero target at once
    elif open_start < unpaused_due:
        assert frozen_due is None
    else:
        assert frozen_due == unpaused_due


@FAST
@given(data=st.data(), start=instants, target=targets, calendar=calendars, pct=st.integers(1, 100))
def test_warn_at_is_never_after_due_at(data, start, target, calendar, pct):
    pauses = data.draw(pause_lists(start, allow_open=False))
    warn, due = warn_at(start, target, pct, pauses, calendar), due_at(start, target, pauses, calendar)
    assert start <= warn <= due


@FAST
@given(
    data=st.data(),
    start=instants,
    target=st.integers(1, 60 * 48).map(lambda m: m * MINUTE),
    calendar=calendars,
    pct=st.integers(1, 100),
)
def test_clock_state_status_agrees_with_elapsed_and_due(data, start, target, calendar, pct):
    now = start + data.draw(st.integers(0, 60 * 24 * 14)) * MINUTE
    # Only the past is known: pauses started (and any ended) by now.
    pauses = [p for p in data.draw(pause_lists(start)) if p.start <= now and (p.end is None or p.end <= now)]
    stopped = data.draw(st.one_of(st.none(), st.integers(0, 60 * 24 * 14).map(lambda m: start + m * MINUTE)))
    s = clock_state(
        start=start, target=target, now=now, stopped_at=stopped, pauses=pauses, calendar=calendar, warning_pct=pct
    )
    assert s.elapsed == elapsed(start, min(now, stopped) if stopped else now, pauses, calendar)
    assert s.remaining == target - s.elapsed
    # A stopped clock never sees the pauses after its stop.
    seen = pauses_until(pauses, stopped) if stopped is not None and stopped <= now else pauses
    assert s.due_at == due_at(start, target, seen, calendar)
    if stopped is not None and stopped <= now:
        assert s.status == (ClockStatus.MET if s.elapsed <= target else ClockStatus.MISSED)
    elif s.elapsed >= target:
        assert s.status == ClockStatus.BREACHED
        assert s.due_at is not None and s.due_at <= now
    elif any(p.end is None and p.start <= now for p in pauses):
        assert s.status == ClockStatus.PAUSED
    elif s.warn_at is not None and now >= s.warn_at:
        assert s.status == ClockStatus.WARNING
        assert now < s.due_at
    else:
        assert s.status == ClockStatus.RUNNING
        assert s.due_at is None or now < s.due_at


@SLOW
@given(
    data=st.data(),
    calendar=business_calendars(hour_min=4),
    start_minute=st.integers(0, 60 * 24 * 400),
    length=st.integers(1, 60 * 24 * 3),
)
def test_elapsed_matches_a_minute_by_minute_count(data, calendar, start_minute, length):
    """An independent oracle: walk minute by minute in the calendar's zone. (Opening hours
    from 04:00 keep clear of DST gaps, where "local time ≥ opening" is ambiguous.)"""
    start = EPOCH + start_minute * MINUTE
    pauses = data.draw(pause_lists(start, allow_open=False))
    zone = ZoneInfo(calendar.tz)
    counted = 0
    for i in range(length):
        t = start + i * MINUTE
        local = t.astimezone(zone)
        working = (
            local.weekday() in calendar.workdays
            and local.date() not in calendar.holidays
            and calendar.day_start <= local.time().replace(tzinfo=None) < calendar.day_end
        )
        paused = any(p.start <= t < p.end for p in pauses)
        counted += working and not paused
    assert elapsed(start, start + length * MINUTE, pauses, calendar) == counted * MINUTE


@FAST
@given(calendar=calendars)
def test_calendar_json_round_trip(calendar):
    assert Calendar.from_json(calendar.to_json()) == calendar
    assert Calendar.from_json(calendar.to_json()).to_json() == calendar.to_json()


@FAST
@given(start=instants, calendar=business_calendars())
def test_open_intervals_are_ordered_disjoint_and_in_hours(start, calendar):
    zone = ZoneInfo(calendar.tz)
    previous_end = start
    for _, (begin, end) in zip(range(10), calendar.open_intervals(start), strict=False):
        assume(end < FAR_FUTURE)
        assert previous_end <= begin < end
        local_day = (
            end.astimezone(zone).date() if end.astimezone(zone).time() != time(0) else begin.astimezone(zone).date()
        )
        assert local_day.weekday() in calendar.workdays
        assert local_day not in calendar.holidays
        previous_end = end
