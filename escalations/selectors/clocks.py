"""Reads between the stored case and the pure clock maths: a case's pauses and calendar
as frozen values, and its clocks' states and counted seconds at an instant."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import connection

from escalations.choices import OPEN_STATUSES
from escalations.fastpath import fetch_rows
from escalations.models import BusinessCalendar, ClockPause, Incident
from escalations.sla import (
    Calendar,
    ClockState,
    ClockStatus,
    Pause,
    clock_state,
    elapsed,
    stopped_in_time,
)


def calendar_from_model(calendar: BusinessCalendar) -> Calendar:
    if calendar.is_24x7:
        return Calendar(is_24x7=True, tz=calendar.timezone)
    return Calendar(
        is_24x7=False,
        tz=calendar.timezone,
        workdays=calendar.weekday_numbers(),
        day_start=calendar.day_start,
        day_end=calendar.day_end,
        holidays=frozenset(h.date for h in calendar.holidays.all()),
    )


def pauses_by_incident(incidents: Iterable[Incident | int]) -> defaultdict[int, list[Pause]]:
    """The pauses of these cases (ids or rows) as values, in one query, oldest first; a
    case without pauses maps to []. Cheaper than a prefetch: no queryset per case, no
    model instances. The SQL is written out and read by fetch_rows."""
    ids = [item if isinstance(item, int) else item.pk for item in incidents]
    pauses: defaultdict[int, list[Pause]] = defaultdict(list)
    if not ids:
        return pauses
    table = connection.ops.quote_name(ClockPause._meta.db_table)
    rows = fetch_rows(
        f"SELECT incident_id, started_at, ended_at, reason FROM {table}"
        f" WHERE incident_id IN ({', '.join(['%s'] * len(ids))}) ORDER BY incident_id, started_at, id",
        ids,
    )
    for incident_id, started_at, ended_at, reason in rows:
        pauses[incident_id].append(Pause(started_at, ended_at, reason))
    return pauses


@lru_cache(maxsize=64)
def _calendar_from_items(items: tuple) -> Calendar:
    return Calendar.from_json(dict(items))


def snapshot_calendar(snapshot: dict | None) -> Calendar:
    """Calendar.from_json of a case's calendar_snapshot, parsed once per distinct
    snapshot per process (a list page holds a handful of distinct ones)."""
    items = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (snapshot or {}).items()))
    return _calendar_from_items(items)


@lru_cache(maxsize=256)
def snapshot_calendar_text(text: str | None) -> Calendar:
    """snapshot_calendar of a snapshot read as JSON text (the API's list rows): one
    cache lookup per row instead of a JSON parse."""
    return snapshot_calendar(json.loads(text) if text else None)


def incident_pauses(incident: Incident) -> list[Pause]:
    """The case's pauses as values: a prefetch named "pauses" when the caller made one,
    else pauses_by_incident for this one case."""
    cache = getattr(incident, "_prefetched_objects_cache", {})
    if "pauses" in cache:
        return [Pause(p.started_at, p.ended_at, p.reason) for p in cache["pauses"]]
    return pauses_by_incident([incident.pk])[incident.pk]


@dataclass(frozen=True)
class Clocks:
    """The three clocks of a case at one instant."""

    ack: ClockState
    resolve: ClockState
    update: ClockState
    calendar: Calendar
    pauses: tuple[Pause, ...]


def update_clock_start(incident: Incident) -> datetime | None:
    """The customer-update clock runs from the latest of: the clock start, the start of
    the current resolve cycle, the last update posted."""
    candidates = [
        t for t in (incident.clock_started_at, incident.cycle_started_at, incident.last_customer_update_at) if t
    ]
    return max(candidates) if incident.clock_started_at else None


def incident_clocks(incident: Incident, *, now: datetime, pauses: list[Pause] | None = None) -> Clocks:
    calendar = snapshot_calendar(incident.calendar_snapshot)
    pauses = incident_pauses(incident) if pauses is None else pauses
    pct = incident.warning_pct
    if incident.acknowledged_at is not None and incident.ack_elapsed_seconds is not None:
        ack = frozen_ack_state(incident)
    else:
        ack = clock_state(
            start=incident.clock_started_at,
            target=timedelta(seconds=incident.ack_target_seconds),
            now=now,
            stopped_at=incident.acknowledged_at,
            pauses=pauses,
            calendar=calendar,
            warning_pct=pct,
        )
    resolve = clock_state(
        start=incident.cycle_started_at if incident.clock_started_at else None,
        target=timedelta(seconds=incident.resolve_target_seconds),
        now=now,
        stopped_at=incident.resolved_at,
        pauses=pauses,
        calendar=calendar,
        warning_pct=pct,
    )
    update_stop = incident.resolved_at if incident.status not in OPEN_STATUSES else None
    update = clock_state(
        start=update_clock_start(incident),
        target=timedelta(seconds=incident.update_cadence_seconds),
        now=now,
        stopped_at=update_stop,
        pauses=pauses,
        calendar=calendar,
        warning_pct=pct,
    )
    return Clocks(ack, resolve, update, calendar, tuple(pauses))


def frozen_ack_state(incident: Incident) -> ClockState:
    """The acknowledge clock as it stopped: the figures recorded at acknowledgement."""
    return ClockState(
        ClockStatus.MET if stopped_in_time(incident.acknowledged_at, incident.ack_due_at) else ClockStatus.MISSED,
        timedelta(seconds=incident.ack_elapsed_seconds),
        None,
        incident.ack_due_at,
        incident.ack_warn_at,
    )


def clock_seconds(incident: Incident, now: datetime, pauses: list[Pause] | None = None) -> tuple[int, int]:
    """(tta_seconds, ttr_seconds): counted acknowledge time, and counted resolve time of
    the current cycle, up to now or until the clock stopped. The same inputs as
    incident_clocks, but only the elapsed part: list pages need no due or
    warning times, and these walk the calendar too. ``pauses``: the case's pauses when
    the caller fetched them (pauses_by_incident), else read or taken from a prefetch."""
    if incident.clock_started_at is None:
        return 0, 0
    return clock_seconds_of(
        incident.clock_started_at,
        incident.acknowledged_at,
        incident.cycle_started_at,
        incident.resolved_at,
        snapshot_calendar(incident.calendar_snapshot),
        now,
        incident_pauses(incident) if pauses is None else pauses,
    )


def clock_seconds_of(
    clock_started_at: datetime | None,
    acknowledged_at: datetime | None,
    cycle_started_at: datetime | None,
    resolved_at: datetime | None,
    calendar: Calendar,
    now: datetime,
    pauses: list[Pause],
) -> tuple[int, int]:
    """clock_seconds from the columns themselves (the API's list rows are tuples)."""
    if clock_started_at is None:
        return 0, 0

    def spent(start: datetime | None, stopped: datetime | None) -> int:
        if start is None:
            return 0
        if stopped is not None and stopped <= now:  # a stopped clock: the same answer every read
            return _stopped_seconds(start, stopped, tuple(pauses), calendar)
        return int(elapsed(start, now, pauses, calendar).total_seconds())

    return spent(clock_started_at, acknowledged_at), spent(cycle_started_at, resolved_at)


@lru_cache(maxsize=32_768)
def _stopped_seconds(start: datetime, stopped: datetime, pauses: tuple[Pause, ...], calendar: Calendar) -> int:
    """Counted seconds of a clock that has stopped, remembered per process: keyed on every
    input of the pure ``elapsed`` (a severity change that brings another calendar is
    another key), so a list page of resolved cases on business hours stops walking
    their calendars on every read. Bounded: ~10 MB per process when full."""
    return int(elapsed(start, stopped, pauses, calendar).total_seconds())
