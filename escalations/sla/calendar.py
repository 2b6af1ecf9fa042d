"""Business calendars as pure values.

Working hours are defined in the calendar's local zone (a "09:00–17:00" day stays
09:00–17:00 local across a DST change); every interval is converted to UTC before any
duration is added, so durations are real elapsed seconds. (Healthchecks does the same
in hc/lib/date.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# How far ahead we look for working time before declaring a calendar unusable.
MAX_SCAN_DAYS = 3 * 366
# Per calendar value, how many days' working intervals are kept (a few years' worth).
_MAX_CACHED_DAYS = 4096


@dataclass(frozen=True)
class Calendar:
    """24x7 when ``is_24x7``; otherwise ``workdays`` (0=Monday) from ``day_start`` to
    ``day_end`` local time in ``tz``, except ``holidays`` (local dates)."""

    is_24x7: bool = True
    tz: str = "UTC"
    workdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.is_24x7:
            if not self.workdays:
                raise ValueError("a business-hours calendar needs at least one working day")
            if self.day_end <= self.day_start:
                raise ValueError("day_end must be after day_start")
        ZoneInfo(self.tz)  # raises on an unknown zone
        # Each local day's working interval in UTC, worked out once per calendar value:
        # clocks walk the same days over and over (a list page's cases share weeks).
        object.__setattr__(self, "_days", {})

    def working_day(self, day: date) -> tuple[datetime, datetime] | None:
        """The working interval (UTC) of a local date, or None on a day off."""
        days: dict[date, tuple[datetime, datetime] | None] = self._days  # type: ignore[attr-defined]
        try:
            return days[day]
        except KeyError:
            pass
        span = None
        if day.weekday() in self.workdays and day not in self.holidays:
            zone = ZoneInfo(self.tz)
            span = (_local_to_utc(day, self.day_start, zone), _local_to_utc(day, self.day_end, zone))
        if len(days) >= _MAX_CACHED_DAYS:
            days.clear()
        days[day] = span
        return span

    # ---- (de)serialisation of the snapshot stored on a case
    def to_json(self) -> dict:
        return {
            "is_24x7": self.is_24x7,
            "tz": self.tz,
            "workdays": list(self.workdays),
            "day_start": self.day_start.strftime("%H:%M"),
            "day_end": self.day_end.strftime("%H:%M"),
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Calendar:
        if not data or data.get("is_24x7", True):
            return cls(is_24x7=True, tz=(data or {}).get("tz", "UTC"))
        return cls(
            is_24x7=False,
            tz=data.get("tz", "UTC"),
            workdays=tuple(data.get("workdays", (0, 1, 2, 3, 4))),
            day_start=time.fromisoformat(data.get("day_start", "09:00")),
            day_end=time.fromisoformat(data.get("day_end", "17:00")),
            holidays=frozenset(date.fromisoformat(d) for d in data.get("holidays", ())),
        )

    def open_intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC, half-open) that end after ``start``, in order. Infinite
        for usable calendars; a 24x7 calendar yields one interval reaching datetime.max."""
        _require_aware(start)
        if self.is_24x7:
            yield start.astimezone(UTC), datetime.max.replace(tzinfo=UTC)
            return
        zone = ZoneInfo(self.tz)
        local_day = start.astimezone(zone).date()
        # Start a day early: a working day in a zone behind UTC may still be open.
        day = local_day - timedelta(days=1)
        empty_days = 0
        while True:
            span = self.working_day(day)
            if span is not None:
                opens, closes = span
                if closes > start and closes > opens:
                    empty_days = 0
                    yield max(opens, start.astimezone(UTC)), closes
                    day += timedelta(days=1)
                    continue
            empty_days += 1
            if empty_days > MAX_SCAN_DAYS:
                raise ValueError("calendar has no working time in the next three years")
            day += timedelta(days=1)


def _local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0 picks the first of two ambiguous local times; a wall time that does not
    # exist (spring-forward gap) maps forward by the gap, as zoneinfo does.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: clock maths needs UTC-aware datetimes")


TWENTY_FOUR_SEVEN = Calendar()
