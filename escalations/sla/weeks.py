"""ISO weeks, in one place: labels ("2026-W47"), their UTC bounds, parsing people's and
clients' input. Pure: ``now`` is passed in.

A week runs Monday 00:00 UTC to the next Monday 00:00 UTC (half-open). The weeks a
label may name are bounded so that every week a page derives from it (the 12 before,
the one after) is a real date: anything outside is a clear error, never a crash."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

# The first and last years a week label may name.
FIRST_YEAR = 1970
LAST_YEAR = 9998
LABEL = re.compile(r"([0-9]{4})-W([0-9]{2})")


@dataclass(frozen=True)
class Week:
    label: str
    starts_at: datetime
    ends_at: datetime


def week_label(day: date | datetime) -> str:
    """The ISO week holding ``day`` ("2026-W47"); a datetime is taken in UTC."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_parse(label: str) -> Week:
    """'2026-W47' → the UTC bounds of that ISO week. Raises ValueError with a message a
    person can act on for anything else: the wrong shape, a week the year does not
    have (W53 of most years), or a year outside FIRST_YEAR..LAST_YEAR."""
    match = LABEL.fullmatch(label or "")
    if match is None:
        raise ValueError("Use an ISO week such as 2026-W47.")
    year, number = int(match[1]), int(match[2])
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"Choose a week between {FIRST_YEAR}-W01 and {LAST_YEAR}-W52.")
    try:
        start = datetime.fromisocalendar(year, number, 1).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"{label} is not a week of {year}.") from None
    return Week(label=label, starts_at=start, ends_at=start + timedelta(days=7))


def week_of(at: datetime) -> Week:
    """The ISO week holding the instant ``at`` (any instant: no range applies to weeks
    derived from a valid one)."""
    day = at.astimezone(UTC).date()
    start = datetime.combine(monday_of(day), datetime.min.time(), tzinfo=UTC)
    return Week(label=week_label(day), starts_at=start, ends_at=start + timedelta(days=7))


def last_complete_week(now: datetime) -> Week:
    """The ISO week before the one ``now`` (UTC) falls in."""
    return week_of(now - timedelta(days=7))


def weeks_ending(week: Week, count: int) -> list[Week]:
    """``week`` and the ``count - 1`` weeks before it, oldest first."""
    return [week_of(week.starts_at - timedelta(days=7 * back)) for back in range(count - 1, -1, -1)]
