"""escalations.sla.clock: the playbook's worked examples for elapsed time, due times,
warnings and clock states. Pure maths, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar
from escalations.sla.clock import (
    ClockStatus,
    Pause,
    _counting_intervals,
    clock_state,
    due_at,
    elapsed,
    stored_status,
    warn_at,
)

M = timedelta(minutes=1)
H = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # Friday 10:00 UTC (10:00 GMT)
LONDON = Calendar(is_24x7=False, tz="Europe/London")
NEW_YORK = Calendar(is_24x7=False, tz="America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- 24x7 worked examples (S1, S2)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (5 * M, T0 + 5 * M),  # S1 page (acknowledge) within 5 minutes
        (2 * H, T0 + 2 * H),  # S1 restore within 2 hours
        (30 * M, T0 + 30 * M),  # S1 update every 30 minutes / S2 acknowledge
        (8 * H, T0 + 8 * H),  # S2 restore within 8 hours
        (60 * M, T0 + 60 * M),  # S2 update every 60 minutes
    ],
)
def test_due_at_24x7_is_start_plus_target(target, expected):
    assert due_at(T0, target) == expected


def test_warn_at_is_the_warning_share_of_the_target():
    assert warn_at(T0, 5 * M, 75) == T0 + timedelta(minutes=3, seconds=45)
    assert warn_at(T0, 8 * H, 75) == T0 + 6 * H
    assert warn_at(T0, 8 * H, 100) == due_at(T0, 8 * H)


@pytest.mark.parametrize("pct", [0, -5, 101])
def test_warn_at_rejects_a_share_outside_1_to_100(pct):
    with pytest.raises(ValueError):
        warn_at(T0, H, pct)


def test_due_at_rejects_negative_target():
    with pytest.raises(ValueError):
        due_at(T0, -M)


def test_zero_target_is_due_at_start():
    assert due_at(T0, timedelta(0)) == T0


def test_elapsed_24x7_is_wall_time_and_zero_before_start():
    assert elapsed(T0, T0 + 20 * M) == 20 * M
    assert elapsed(T0, T0) == timedelta(0)
    assert elapsed(T0, T0 - H) == timedelta(0)


# ---- pauses: only customer / third-party waits, and they shift due times


def test_closed_pause_shifts_s2_due_times_by_the_paused_time():
    # S2 opened 10:00, waiting on the customer 10:10–10:40: 30 minutes later everywhere.
    pauses = [Pause(T0 + 10 * M, T0 + 40 * M)]
    assert due_at(T0, 30 * M, pauses) == T0 + 60 * M
    assert due_at(T0, 8 * H, pauses) == T0 + 8 * H + 30 * M
    assert elapsed(T0, T0 + 60 * M, pauses) == 30 * M


def test_pause_after_the_due_time_does_not_move_it():
    pauses = [Pause(T0 + 10 * M, T0 + 40 * M)]
    assert due_at(T0, 5 * M, pauses) == T0 + 5 * M


def test_open_pause_freezes_the_clock_and_hides_the_due_time():
    pauses = [Pause(T0 + 10 * M)]
    assert due_at(T0, 2 * H, pauses) is None
    assert warn_at(T0, 2 * H, 75, pauses) is None
    assert elapsed(T0, T0 + 5 * H, pauses) == 10 * M


def test_open_pause_after_the_due_time_keeps_it():
    pauses = [Pause(T0 + 10 * M)]
    assert due_at(T0, 5 * M, pauses) == T0 + 5 * M


def test_overlapping_and_out_of_order_pauses_count_once():
    pauses = [Pause(T0 + 30 * M, T0 + 50 * M), Pause(T0 + 10 * M, T0 + 40 * M), Pause(T0 - H, T0 + 5 * M)]
    # Paused 10:00–10:05 and 10:10–10:50: 45 minutes off the clock.
    assert elapsed(T0, T0 + 2 * H, pauses) == 2 * H - 45 * M
    assert due_at(T0, 30 * M, pauses) == T0 + 75 * M


def test_pause_open_since_before_start_means_nothing_counts():
    assert elapsed(T0, T0 + H, [Pause(T0 - M)]) == timedelta(0)
    assert due_at(T0, 5 * M, [Pause(T0 - M)]) is None


# ---- business hours (S3/S4 on "Business hours (London)")


def test_s3_over_a_weekend_in_london():
    # Friday 16:00 GMT, S3: acknowledge within 4 business hours, resolve within 24.
    start = utc(2026, 11, 20, 16)
    assert due_at(start, 4 * H, calendar=LONDON) == utc(2026, 11, 23, 12)  # 1 h Fri + 3 h Mon
    assert due_at(start, 24 * H, calendar=LONDON) == utc(2026, 11, 25, 16)  # 1 + 8 + 8 + 7
    assert elapsed(start, utc(2026, 11, 23, 9), calendar=LONDON) == H  # the weekend does not count


def test_s3_across_a_holiday():
    christmas = Calendar(
        is_24x7=False, tz="Europe/London", holidays=frozenset({date(2026, 12, 25), date(2026, 12, 28)})
    )
    start = utc(2026, 12, 24, 15)
    assert due_at(start, 4 * H, calendar=christmas) == utc(2026, 12, 29, 11)
    assert elapsed(start, utc(2026, 12, 29, 9), calendar=christmas) == 2 * H


def test_s3_across_the_london_spring_forward():
    # Fri 2026-03-27 15:00 GMT; Monday opens 09:00 BST = 08:00 UTC.
    assert due_at(utc(2026, 3, 27, 15), 4 * H, calendar=LONDON) == utc(2026, 3, 30, 10)


def test_s3_across_the_london_fall_back():
    # Fri 2026-10-23 15:00 BST (14:00 UTC); Monday opens 09:00 GMT = 09:00 UTC.
    assert due_at(utc(2026, 10, 23, 14), 4 * H, calendar=LONDON) == utc(2026, 10, 26, 11)


def test_s3_across_the_new_york_spring_forward():
    # Fri 2026-03-06 15:00 EST (20:00 UTC); Monday opens 09:00 EDT = 13:00 UTC.
    start = utc(2026, 3, 6, 20)
    assert due_at(start, 4 * H, calendar=NEW_YORK) == utc(2026, 3, 9, 15)
    assert elapsed(start, utc(2026, 3, 9, 15), calendar=NEW_YORK) == 4 * H


def test_s3_across_the_new_york_fall_back():
    # Fri 2026-10-30 15:00 EDT (19:00 UTC); Monday 2026-11-02 opens 09:00 EST = 14:00 UTC.
    assert due_at(utc(2026, 10, 30, 19), 4 * H, calendar=NEW_YORK) == utc(2026, 11, 2, 16)


def test_business_hours_pause_in_working_time_shifts_the_due_time():
    # Monday 09:00, 4 business hours, customer wait 10:00–11:30: due 14:30.
    start = utc(2026, 11, 23, 9)
    pauses = [Pause(utc(2026, 11, 23, 10), utc(2026, 11, 23, 11, 30))]
    assert due_at(start, 4 * H, pauses, LONDON) == utc(2026, 11, 23, 14, 30)


def test_business_hours_pause_outside_working_time_changes_nothing():
    start = utc(2026, 11, 20, 16)
    weekend_pause = [Pause(utc(2026, 11, 21, 10), utc(2026, 11, 22, 10))]
    assert due_at(start, 4 * H, weekend_pause, LONDON) == due_at(start, 4 * H, calendar=LONDON)


def test_business_hours_start_outside_hours_counts_from_opening():
    saturday = utc(2026, 11, 21, 12)
    assert due_at(saturday, 4 * H, calendar=LONDON) == utc(2026, 11, 23, 13)
    assert warn_at(saturday, 4 * H, 75, calendar=LONDON) == utc(2026, 11, 23, 12)


# ---- clock_state


def state(**kwargs):
    values = {"start": T0, "target": 30 * M, "now": T0}
    values.update(kwargs)
    return clock_state(**values)


def test_clock_state_not_started_without_a_start():
    s = state(start=None)
    assert s.status == ClockStatus.NOT_STARTED
    assert (s.elapsed, s.remaining, s.due_at, s.warn_at) == (timedelta(0), None, None, None)


def test_clock_state_running_then_warning_then_breached():
    running = state(now=T0 + 10 * M)
    assert running.status == ClockStatus.RUNNING
    assert running.remaining == 20 * M
    assert running.due_at == T0 + 30 * M
    assert running.warn_at == T0 + timedelta(minutes=22, seconds=30)
    assert state(now=T0 + timedelta(minutes=22, seconds=29)).status == ClockStatus.RUNNING
    assert state(now=T0 + timedelta(minutes=22, seconds=30)).status == ClockStatus.WARNING
    breached = state(now=T0 + 40 * M)
    assert breached.status == ClockStatus.BREACHED
    assert breached.remaining == -10 * M
    assert state(now=T0 + 30 * M).status == ClockStatus.BREACHED  # due is the first breached instant


def test_clock_state_paused():
    s = state(now=T0 + 20 * M, pauses=[Pause(T0 + 5 * M)])
    assert s.status == ClockStatus.PAUSED
    assert s.elapsed == 5 * M
    assert s.due_at is None


def test_clock_state_met_and_missed():
    met = state(now=T0 + 2 * H, stopped_at=T0 + 25 * M)
    assert (met.status, met.elapsed) == (ClockStatus.MET, 25 * M)
    assert state(now=T0 + 2 * H, stopped_at=T0 + 30 * M).status == ClockStatus.MET
    missed = state(now=T0 + 2 * H, stopped_at=T0 + 31 * M)
    assert (missed.status, missed.elapsed) == (ClockStatus.MISSED, 31 * M)


def test_clock_state_stop_in_the_future_is_still_running():
    assert state(now=T0 + 10 * M, stopped_at=T0 + 20 * M).status == ClockStatus.RUNNING


def test_clock_state_met_thanks_to_a_pause():
    s = state(now=T0 + 2 * H, stopped_at=T0 + 50 * M, pauses=[Pause(T0 + 10 * M, T0 + 40 * M)])
    assert (s.status, s.elapsed) == (ClockStatus.MET, 20 * M)


def test_clock_state_business_hours_not_breached_over_the_weekend():
    start = utc(2026, 11, 20, 16)
    s = clock_state(start=start, target=4 * H, now=utc(2026, 11, 22, 23), calendar=LONDON)
    assert s.status == ClockStatus.RUNNING
    assert s.elapsed == H


# ---- naive datetimes


NAIVE = datetime(2026, 11, 20, 10)


@pytest.mark.parametrize(
    "call",
    [
        lambda: elapsed(NAIVE, T0),
        lambda: elapsed(T0, NAIVE),
        lambda: due_at(NAIVE, H),
        lambda: warn_at(NAIVE, H, 75),
        lambda: elapsed(T0, T0 + H, [Pause(NAIVE, NAIVE + M)]),
        lambda: clock_state(start=T0, target=H, now=NAIVE),
        lambda: clock_state(start=NAIVE, target=H, now=T0),
    ],
    ids=["elapsed-start", "elapsed-now", "due_at", "warn_at", "pause", "state-now", "state-start"],
)
def test_naive_datetimes_are_rejected(call):
    with pytest.raises(ValueError, match="naive"):
        call()


@pytest.mark.parametrize(
    "start, until",
    [
        (datetime(2026, 3, 1, 9, 0, 0, 1, tzinfo=UTC), datetime(2026, 3, 9, 17, 30, tzinfo=UTC)),
        (datetime(2026, 3, 28, 23, 0, tzinfo=ZoneInfo("Europe/London")), datetime(2026, 3, 29, 3, 0, tzinfo=UTC)),
        (datetime(2026, 3, 1, 9, 0, tzinfo=UTC), datetime(2026, 3, 1, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 1, 9, 0, tzinfo=UTC), datetime(2026, 2, 1, 9, 0, tzinfo=UTC)),
    ],
)
@pytest.mark.parametrize("calendar", [TWENTY_FOUR_SEVEN, LONDON, NEW_YORK], ids=["24x7", "london", "new-york"])
def test_elapsed_without_pauses_is_the_counting_intervals_summed(start, until, calendar):
    """elapsed() skips the pause machinery when there are no pauses: same sums."""
    for end in (until, until + timedelta(days=3, hours=5), start + timedelta(hours=30, minutes=7)):
        summed = sum((e - b for b, e in _counting_intervals(start, [], calendar, end)), timedelta(0))
        assert elapsed(start, end, [], calendar) == max(summed, timedelta(0))


@pytest.mark.parametrize("calendar", [TWENTY_FOUR_SEVEN, Calendar(is_24x7=False, tz="Europe/London")])
@pytest.mark.parametrize("hours", [0, 1, 5, 6, 7, 8, 30, 200])
def test_stored_status_agrees_with_clock_state_for_a_running_clock(calendar, hours):
    """The queue and the sweep read a running clock from its stored due and warning
    times; that must be the status the full clock maths gives."""
    start, target = datetime(2026, 11, 20, 10, tzinfo=UTC), timedelta(hours=8)
    now = start + timedelta(hours=hours)
    full = clock_state(start=start, target=target, now=now, calendar=calendar)
    stored = stored_status(due_at=full.due_at, warn_at=full.warn_at, breached_at=None, now=now)
    assert stored == full.status


def test_stored_status_keeps_a_recorded_breach_and_knows_no_due_time():
    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert stored_status(due_at=later, warn_at=later, breached_at=now, now=now) == ClockStatus.BREACHED
    assert stored_status(due_at=None, warn_at=None, breached_at=None, now=now) == ClockStatus.NOT_STARTED


def test_queue_rank_bands():
    from escalations.sla import QueueRank, queue_rank

    live = {"is_open": True, "started": True, "paused": False, "breached": False, "warned": False}
    assert queue_rank(**live) == QueueRank.RUNNING
    assert queue_rank(**{**live, "warned": True}) == QueueRank.WARNING
    assert queue_rank(**{**live, "warned": True, "breached": True}) == QueueRank.BREACHED
    # A pause keeps no promise: a breached case stays in the breached band while paused.
    assert queue_rank(**{**live, "breached": True, "paused": True}) == QueueRank.BREACHED
    assert queue_rank(**{**live, "paused": True}) == QueueRank.WAITING
    assert queue_rank(**{**live, "started": False}) == QueueRank.WAITING
    assert queue_rank(**{**live, "is_open": False, "breached": True}) == QueueRank.CLOSED


def test_breached_clocks_counts_a_breach_until_its_promise_is_kept():
    from escalations.sla import breached_clocks

    none = {"is_open": True, "acknowledged": False, "ack_breached": False, "resolve_breached": False}
    assert breached_clocks(**none, update_breached=False) == ()
    assert breached_clocks(**{**none, "ack_breached": True}, update_breached=False) == ("ack",)
    # Acknowledging keeps the acknowledge promise late: no longer breached now.
    acked = {**none, "ack_breached": True, "acknowledged": True}
    assert breached_clocks(**acked, update_breached=False) == ()
    assert breached_clocks(**{**acked, "resolve_breached": True}, update_breached=True) == ("resolve", "update")
    # A resolved or closed case has no clock breached now, whatever was recorded.
    assert breached_clocks(**{**acked, "is_open": False, "resolve_breached": True}, update_breached=True) == ()


def test_a_pause_after_the_stop_never_moves_a_stopped_clock():
    from escalations.sla import Pause, clock_state

    start = datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    acked = start + timedelta(seconds=17)
    before = clock_state(start=start, target=timedelta(minutes=5), now=acked, stopped_at=acked)
    later_pause = [Pause(acked + timedelta(minutes=1), acked + timedelta(minutes=1, seconds=3))]
    after = clock_state(
        start=start, target=timedelta(minutes=5), now=acked + timedelta(hours=1), stopped_at=acked, pauses=later_pause
    )
    assert (after.due_at, after.elapsed, after.status) == (before.due_at, before.elapsed, before.status)
