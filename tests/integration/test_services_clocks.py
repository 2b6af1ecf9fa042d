"""escalations.services.clocks: the bridge from stored cases to the pure clock maths —
policy snapshots, clock states and the denormalised deadline fields."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.choices import PauseReason
from escalations.models import Incident, SeverityPolicy
from escalations.selectors.clocks import incident_clocks
from escalations.services import incident_acknowledge, incident_pause
from escalations.services.clocks import incident_recompute_clocks
from escalations.services.common import audited_save
from escalations.sla import ClockStatus

pytestmark = pytest.mark.django_db
M = timedelta(minutes=1)
H = timedelta(hours=1)


def test_editing_a_policy_never_moves_an_open_case(make_incident, policy_admin, agent, now):
    incident = make_incident()
    policy = SeverityPolicy.objects.get(key="S2")
    policy.resolve_target = 1 * H
    audited_save(policy, actor=policy_admin, update_fields=["resolve_target"])
    incident = incident_acknowledge(incident=incident, actor=agent, now=now + M)  # recomputes from the snapshot
    assert incident.resolve_target_seconds == 8 * 3600
    assert incident.resolve_due_at == now + 8 * H
    assert make_incident().resolve_due_at == now + H  # new cases take the edited policy


def test_incident_clocks_report_each_clock(make_incident, agent, now):
    incident = make_incident()
    clocks = incident_clocks(incident, now=now + 25 * M)
    assert clocks.ack.status == ClockStatus.WARNING  # 75 % of 30 min is 22.5 min
    assert clocks.resolve.status == ClockStatus.RUNNING
    assert clocks.update.status == ClockStatus.RUNNING
    assert incident_clocks(incident, now=now + 31 * M).ack.status == ClockStatus.BREACHED
    incident = incident_acknowledge(incident=incident, actor=agent, now=now + 31 * M)
    assert incident_clocks(incident, now=now + H).ack.status == ClockStatus.MISSED


def test_s3_clocks_follow_business_hours(make_incident, now):
    friday_4pm = now.replace(hour=16)
    incident = make_incident(arr_at_risk=0, now=friday_4pm)
    sunday = friday_4pm + timedelta(days=2)
    clocks = incident_clocks(incident, now=sunday)
    assert clocks.ack.elapsed == H
    assert clocks.ack.status == ClockStatus.RUNNING
    assert incident.resolve_due_at == friday_4pm + timedelta(days=5)  # Wednesday 16:00


def test_paused_case_does_not_climb_the_escalation_chain(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    incident.next_escalation_at = now + 5 * M
    incident_recompute_clocks(incident, now=now)
    assert incident.next_check_at == now + 5 * M
    incident = incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="x", actor=agent, now=now + M)
    incident.next_escalation_at = now + 5 * M
    incident_recompute_clocks(incident, now=now + M)
    assert incident.next_check_at is None
    assert Incident.objects.get(pk=incident.pk).next_check_at is None


def test_a_warning_passed_before_a_pause_waits_for_the_resume(make_incident, agent, now):
    from escalations.services import incident_resume

    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)  # S2: update due at +60 min
    # The update warning (75 % = +45 min) passed unrecorded, then the case paused: nothing
    # can fire while the clock is frozen, so the sweep must not be woken for it.
    incident = incident_pause(
        incident=incident, reason=PauseReason.CUSTOMER, note="logs", actor=agent, now=now + 50 * M
    )
    assert incident.next_check_at is None
    incident = incident_resume(incident=incident, actor=agent, now=now + 90 * M)
    assert incident.next_check_at == incident.update_warn_at == now + 45 * M


def test_a_pause_after_acknowledgement_never_moves_the_met_acknowledge_clock(make_incident, agent, now):
    from escalations.services import incident_resume

    incident = make_incident(data_risk=True)
    incident = incident_acknowledge(incident=incident, actor=agent, now=now + timedelta(seconds=17))
    due, shown = incident.ack_due_at, incident_clocks(incident, now=now + timedelta(seconds=20)).ack
    incident_pause(
        incident=incident, reason=PauseReason.CUSTOMER, note="Logs", actor=agent, now=now + timedelta(minutes=1)
    )
    incident = incident_resume(incident=incident, actor=agent, now=now + timedelta(minutes=1, seconds=3))
    incident.refresh_from_db()
    later = incident_clocks(incident, now=now + timedelta(minutes=5)).ack
    assert incident.ack_due_at == due
    assert (later.due_at, later.elapsed, later.status) == (shown.due_at, shown.elapsed, shown.status)


def test_lowering_the_severity_never_moves_the_stopped_acknowledge_clock(make_incident, agent, manager, now):
    from datetime import timedelta

    from escalations.services import incident_change_severity

    incident = make_incident(data_risk=True)  # S1, 24x7
    incident = incident_acknowledge(incident=incident, actor=agent, now=now + timedelta(seconds=17))
    due = incident.ack_due_at
    incident_change_severity(incident=incident, severity="S3", reason="Not data risk after all", actor=manager,
                             now=now + timedelta(minutes=5))  # fmt: skip
    incident.refresh_from_db()
    ack = incident_clocks(incident, now=now + timedelta(hours=1)).ack
    assert (ack.elapsed, ack.due_at, ack.status) == (timedelta(seconds=17), due, ClockStatus.MET)
    assert incident.ack_due_at == due
