"""Calendar deadlines counted in days, not seconds: an RCA due N business days after
resolve, an action item due on a date, the weekly digest's slot in a person's zone.

Pure: values in, values out; ``now`` is always a parameter. Day arithmetic happens on
local dates in the calendar's (or person's) zone; the instants returned are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from escalations.sla.weeks import week_label

# A calendar whose working days never come is a configuration error, not a wait.
_MAX_SCAN_DAYS = 3 * 366


@dataclass(frozen=True)
class WorkingDays:
    """Which local dates are business days: ``workdays`` (0=Monday) except ``holidays``,
    in zone ``tz``. ``day_end``: when a business day ends locally (None: at midnight, for
    calendars that count every hour)."""

    tz: str = "UTC"
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    holidays: frozenset[date] = field(default_factory=frozenset)
    day_end: time | None = None

    def __post_init__(self) -> None:
        if not self.workdays:
            raise ValueError("business days need at least one working weekday")
        ZoneInfo(self.tz)  # raises on an unknown zone

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays

    def end_of(self, day: date) -> datetime:
        """The UTC instant the local ``day`` ends as a business day."""
        zone = ZoneInfo(self.tz)
        if self.day_end is None:
            return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        return datetime.combine(day, self.day_end, tzinfo=zone).astimezone(UTC)


def business_days_after(start: datetime, days: int, calendar: WorkingDays) -> datetime:
    """The end of the ``days``-th business day after the local date of ``start``: an RCA
    due "within 5 business days" of a Friday resolve is due at the end of the next
    Friday (weekends and holidays skipped). ``days`` = 0 means the end of the day of
    ``start`` (or of the next business day, when ``start`` falls on a day off)."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("naive datetime: deadline maths needs aware datetimes")
    if days < 0:
        raise ValueError("days must not be negative")
    day = start.astimezone(ZoneInfo(calendar.tz)).date()
    counted = 0
    scanned = 0
    if days == 0:
        while not calendar.is_business_day(day):
            day += timedelta(days=1)
            scanned += 1
            if scanned > _MAX_SCAN_DAYS:
                raise ValueError("the calendar has no business day in the next three years")
        return calendar.end_of(day)
    while counted < days:
        day += timedelta(days=1)
        scanned += 1
        if scanned > _MAX_SCAN_DAYS + days:
            raise ValueError("the calendar has no business day in the next three years")
        if calendar.is_business_day(day):
            counted += 1
    return calendar.end_of(day)


def date_due_at(due: date, tz: str) -> datetime:
    """A task due on local date ``due`` is overdue from the following local midnight."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=ZoneInfo(tz)).astimezone(UTC)


def weekly_slot_week(now: datetime, *, tz: str, weekday: int, hour: int, minute: int) -> str | None:
    """The ISO week (of the local calendar in ``tz``) whose weekly slot — ``weekday``
    (0=Monday) at ``hour``:``minute`` local time — has come by ``now``; None while this
    local week's slot is still ahead. A run that missed the slot (the beat was down)
    still finds it due later in the same week; the caller records one delivery per
    returned week, so the slot fires once per week whatever the cadence of the checks.
    A slot in a DST gap maps forward, as zoneinfo does."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: deadline maths needs aware datetimes")
    zone = ZoneInfo(tz)
    local_today = now.astimezone(zone).date()
    monday = local_today - timedelta(days=local_today.weekday())
    slot = datetime.combine(monday + timedelta(days=weekday), time(hour, minute), tzinfo=zone).astimezone(UTC)
    return week_label(local_today) if now >= slot else None


def last_complete_iso_week(now: datetime) -> str:
    """The label of the last ISO week (UTC, Monday to Monday) that has ended by ``now``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("naive datetime: deadline maths needs aware datetimes")
    return week_label(now.astimezone(UTC).date() - timedelta(days=7))
