"""escalations.selectors.clocks.clock_seconds_of: the API's tta/ttr seconds, with stopped
clocks remembered per process. Remembered answers must be exactly what the pure clock
maths gives for the same inputs, and any changed input must be a fresh answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalations.selectors.clocks import clock_seconds_of
from escalations.sla import TWENTY_FOUR_SEVEN, Calendar, Pause, elapsed

H = timedelta(hours=1)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday
LONDON = Calendar(is_24x7=False, tz="Europe/London")
NEW_YORK = Calendar(is_24x7=False, tz="America/New_York")


def direct(start, stopped, now, pauses, calendar) -> int:
    until = min(now, stopped) if stopped is not None else now
    return int(elapsed(start, until, pauses, calendar).total_seconds())


@pytest.mark.parametrize("calendar", [TWENTY_FOUR_SEVEN, LONDON, NEW_YORK])
@pytest.mark.parametrize("pauses", [[], [Pause(T0 + H, T0 + 3 * H)], [Pause(T0 + 2 * H, None)]])
def test_same_answers_as_the_clock_maths_read_after_read(calendar, pauses):
    acked, resolved = T0 + 5 * H, T0 + 80 * H
    for now in (T0 + 4 * H, T0 + 6 * H, T0 + 90 * H, T0 + 90 * H, T0 + 200 * H):
        tta, ttr = clock_seconds_of(T0, acked, T0, resolved, calendar, now, pauses)
        assert tta == direct(T0, acked, now, pauses, calendar)
        assert ttr == direct(T0, resolved, now, pauses, calendar)


def test_another_calendar_or_pause_is_another_answer():
    acked, now = T0 + 70 * H, T0 + 100 * H
    first = clock_seconds_of(T0, acked, T0, None, LONDON, now, [])
    # A severity change that swaps the calendar, then a pause found later.
    other = clock_seconds_of(T0, acked, T0, None, TWENTY_FOUR_SEVEN, now, [])
    paused = clock_seconds_of(T0, acked, T0, None, LONDON, now, [Pause(T0 + H, T0 + 2 * H)])
    assert first[0] == direct(T0, acked, now, [], LONDON)
    assert other[0] == 70 * 3600 != first[0]
    assert paused[0] == direct(T0, acked, now, [Pause(T0 + H, T0 + 2 * H)], LONDON) < first[0]
    # Running clocks are never remembered: they grow with now.
    assert clock_seconds_of(T0, None, None, None, TWENTY_FOUR_SEVEN, now + H, [])[0] == 101 * 3600
