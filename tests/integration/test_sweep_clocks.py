"""Property: the sweep's idea of "due" is the pure clock functions' idea of "due".

Hypothesis drives a case through random pause histories, business calendars (zone,
workdays, hours, a holiday) and severity upgrades, with acknowledgements and customer
updates, sweeping at every step as a beat would. After each sweep, for every running
clock, the test recomputes due and warning times *from its own record* of what happened,
using only escalations.sla, and checks that:

- a breach is recorded  ⟺  the pure due time has passed;
- a warning is recorded ⟺  the pure warning time has passed (while a pause freezes the
  clock nothing fires, so there only "recorded ⟹ passed" holds);
- a breach detected now carries exactly the pure due time.

Only upgrades are drawn: an upgrade can only move deadlines earlier, so "recorded"
and "passed" stay comparable over the whole history (a downgrade can un-pass a deadline
whose breach rightly stays recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalations.models import Breach, BusinessCalendar, Holiday, SeverityPolicy, SlaWarning
from escalations.services import (
    customer_update_post,
    incident_acknowledge,
    incident_change_severity,
    incident_pause,
    incident_resume,
)
from escalations.services.engine.sweep import sweep_run
from escalations.sla import Calendar, Pause, due_at, warn_at

pytestmark = pytest.mark.django_db

# The playbook's targets restated independently (minutes): ack, resolve, update.
TARGETS = {"S1": (5, 120, 30), "S2": (30, 480, 60), "S3": (240, 1440, 480), "S4": (480, 4800, 1440)}
UPGRADE = {"S4": "S3", "S3": "S2", "S2": "S1"}
WARNING_PCT = 75
M = timedelta(minutes=1)

calendars = st.fixed_dictionaries(
    {
        "tz": st.sampled_from(["Europe/London", "America/New_York", "Asia/Kolkata", "UTC"]),
        "workdays": st.sets(st.integers(0, 6), min_size=1, max_size=7).map(sorted).map(tuple),
        "start_hour": st.integers(0, 12),
        "hours": st.integers(1, 11),
        # A holiday in the first week after T0 (Friday 20 November 2026), or none.
        "holiday": st.one_of(st.none(), st.integers(0, 6).map(lambda d: date(2026, 11, 20) + timedelta(days=d))),
    }
)
steps = st.lists(
    st.tuples(
        st.integers(1, 240),  # minutes since the previous step
        st.sampled_from(["pause", "resume", "ack", "update", "upgrade", "nothing"]),
    ),
    min_size=1,
    max_size=12,
)


@dataclass
class Record:
    """What the test itself knows happened: the oracle's inputs."""

    severity: str
    start: datetime
    pauses: list[Pause] = field(default_factory=list)
    acknowledged: bool = False
    last_update: datetime | None = None
    updates: int = 0

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None


def _calendar_for(severity: str, spec: dict) -> Calendar:
    if severity in ("S1", "S2"):
        return Calendar(is_24x7=True, tz="UTC")
    return Calendar(
        is_24x7=False, tz=spec["tz"], workdays=spec["workdays"], day_start=time(spec["start_hour"]),
        day_end=time(spec["start_hour"] + spec["hours"]),
        holidays=frozenset([spec["holiday"]]) if spec["holiday"] else frozenset(),
    )  # fmt: skip


def _oracle(record: Record, spec: dict) -> dict[tuple[str, int], tuple[datetime | None, datetime | None]]:
    """Pure due and warning times of each running clock: {(kind, cycle): (warn, due)}."""
    ack, resolve, update = (timedelta(minutes=m) for m in TARGETS[record.severity])
    calendar = _calendar_for(record.severity, spec)
    pauses = tuple(record.pauses)
    clocks = {
        ("resolve", 1): (record.start, resolve),
        ("update", record.updates + 1): (record.last_update or record.start, update),
    }
    if not record.acknowledged:
        clocks[("ack", 1)] = (record.start, ack)
    return {
        key: (warn_at(start, target, WARNING_PCT, pauses, calendar), due_at(start, target, pauses, calendar))
        for key, (start, target) in clocks.items()
    }


def _install_calendar(spec: dict) -> None:
    calendar = BusinessCalendar.objects.create(
        name="Property calendar", is_24x7=False, timezone=spec["tz"], workdays=",".join(map(str, spec["workdays"])),
        day_start=time(spec["start_hour"]), day_end=time(spec["start_hour"] + spec["hours"]),
    )  # fmt: skip
    if spec["holiday"]:
        Holiday.objects.create(calendar=calendar, date=spec["holiday"], name="Property holiday")
    SeverityPolicy.objects.filter(key__in=["S3", "S4"]).update(calendar=calendar)  # reference data, rolled back


class _Rollback(Exception):
    pass


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(severity=st.sampled_from(["S4", "S3", "S2"]), spec=calendars, plan=steps)
def test_sweep_due_equals_pure_clock_due(severity, spec, plan, make_incident, agent, now):
    try:
        with transaction.atomic():
            _install_calendar(spec)
            incident = make_incident(arr_at_risk=0, severity=severity, severity_reason="property test")
            record = Record(severity=severity, start=now)
            t = now
            for gap, action in plan:
                t += gap * M
                sweep_run(now=t, source="test")
                _check(incident.pk, record, spec, t)
                _apply(action, incident.pk, record, agent, t)
            t += 24 * 60 * M
            sweep_run(now=t, source="test")
            _check(incident.pk, record, spec, t)
            raise _Rollback
    except _Rollback:
        pass


def _check(incident_id: int, record: Record, spec: dict, t: datetime) -> None:
    breaches = {(b.kind, b.cycle): b for b in Breach.objects.filter(incident_id=incident_id)}
    warnings = {(w.kind, w.cycle) for w in SlaWarning.objects.filter(incident_id=incident_id)}
    for key, (warn, due) in _oracle(record, spec).items():
        passed = due is not None and due <= t
        assert (key in breaches) == passed, f"{key}: pure due {due}, sweep at {t}, recorded {key in breaches}"
        warn_passed = warn is not None and warn <= t
        if due is None:
            # Frozen by a pause: nothing fires until the resume (services.clocks), not even a
            # warning whose moment passed before the pause — but one raised earlier stays.
            assert warn_passed or key not in warnings, f"{key}: warning recorded before its time {warn}"
        else:
            assert (key in warnings) == warn_passed, f"{key}: pure warn {warn}, sweep at {t}"
        if key in breaches and breaches[key].detected_at == t:
            assert breaches[key].due_at == due


def _apply(action: str, incident_id: int, record: Record, agent, t: datetime) -> None:
    if action == "pause" and not record.paused and record.acknowledged:  # the ack clock never pauses
        incident_pause(incident=incident_id, reason="customer", note="Waiting", actor=agent, now=t)
        record.pauses.append(Pause(t))
    elif action == "resume" and record.paused:
        incident_resume(incident=incident_id, actor=agent, now=t)
        record.pauses[-1] = Pause(record.pauses[-1].start, t)
    elif action == "ack" and not record.acknowledged:
        incident_acknowledge(incident=incident_id, actor=agent, now=t)
        record.acknowledged = True
    elif action == "update":
        customer_update_post(incident=incident_id, body="Progress", channel=None, actor=agent, now=t)
        record.updates += 1
        record.last_update = t
    elif action == "upgrade" and record.severity in UPGRADE:
        record.severity = UPGRADE[record.severity]
        incident_change_severity(incident=incident_id, severity=record.severity, reason="Worse", actor=agent, now=t)
