"""escalations.services.intake: severity from the triggers (or a justified choice),
policy snapshot, clocks on agreed channels, SOP checklists, events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from escalations.choices import EventKind, SeveritySource, Stage, Status
from escalations.models import Checklist, ResolveCycle
from escalations.services import NotAllowed, RuleViolation
from escalations.services.intake import check_severity_choice, clean_impact

pytestmark = pytest.mark.django_db


M = timedelta(minutes=1)
H = timedelta(hours=1)


def test_arr_trigger_gives_s2_with_explanation(make_incident, now):
    incident = make_incident(arr_at_risk=50000)
    assert incident.severity == "S2"
    assert incident.trigger_severity == "S2"
    assert incident.severity_source == SeveritySource.TRIGGER
    assert incident.trigger_explanation == "S2: $50,000 or more ARR at risk"
    assert incident.status == Status.NEW
    assert incident.stage == Stage.TRIAGE


def test_data_risk_gives_s1(make_incident):
    incident = make_incident(data_risk=True)
    assert (incident.severity, incident.trigger_explanation) == ("S1", "S1: Data risk")


def test_users_affected_threshold_gives_s1(make_incident):
    assert make_incident(arr_at_risk=0, users_affected_pct=10).severity == "S1"
    assert make_incident(arr_at_risk=0, users_affected_pct="9.99").severity == "S3"


def test_nothing_matches_defaults_to_s3(make_incident):
    incident = make_incident(arr_at_risk=49999)
    assert incident.severity == "S3"
    assert incident.trigger_severity == ""
    assert incident.trigger_explanation == "No trigger rule matched."
    assert incident.severity_source == SeveritySource.TRIGGER


def test_policy_targets_are_snapshotted(make_incident):
    incident = make_incident(data_risk=True)
    assert (incident.ack_target_seconds, incident.resolve_target_seconds, incident.update_cadence_seconds) == (
        300,
        7200,
        1800,
    )
    assert incident.warning_pct == 75
    assert incident.calendar_snapshot["is_24x7"] is True
    s3 = make_incident(arr_at_risk=0)
    assert s3.calendar_snapshot["tz"] == "Europe/London"
    assert s3.calendar_snapshot["is_24x7"] is False


def test_raising_above_the_triggers_needs_a_reason(make_incident):
    with pytest.raises(RuleViolation) as exc:
        make_incident(severity="S1")
    assert exc.value.field == "severity_reason"
    incident = make_incident(severity="S1", severity_reason="CEO of the customer on the phone")
    assert incident.severity == "S1"
    assert incident.severity_source == SeveritySource.MANUAL
    assert incident.trigger_severity == "S2"


def test_choosing_the_trigger_severity_needs_no_reason(make_incident):
    incident = make_incident(severity="S2")
    assert (incident.severity, incident.severity_source) == ("S2", SeveritySource.TRIGGER)


def test_below_the_floor_needs_a_manager(make_incident, manager, customer, email_channel, now):
    with pytest.raises(NotAllowed) as exc:
        make_incident(severity="S3", severity_reason="looks minor")
    assert exc.value.field == "severity"
    assert exc.value.code == "downgrade_needs_manager"
    with pytest.raises(RuleViolation) as exc:
        make_incident(actor=manager, severity="S3")
    assert exc.value.field == "severity_reason"
    incident = make_incident(actor=manager, severity="S3", severity_reason="ARR figure is a whole-account number")
    assert (incident.severity, incident.severity_source) == ("S3", SeveritySource.MANUAL)
    assert incident.trigger_severity == "S2"


def test_unknown_severity_is_refused(make_incident):
    with pytest.raises(RuleViolation) as exc:
        make_incident(severity="S9", severity_reason="x")
    assert exc.value.field == "severity"


def test_s1_gets_the_s1_checklists(make_incident):
    incident = make_incident(data_risk=True)
    titles = set(Checklist.objects.filter(incident=incident).values_list("title", flat=True))
    assert titles == {"S1 first hour (triage)", "S1 command", "S1 fix", "S1 verify and close"}
    triage = Checklist.objects.get(incident=incident, stage=Stage.TRIAGE)
    assert [i.text for i in triage.items.all()][:2] == ["Acknowledge the page", "Incident Commander named"]
    assert triage.items.filter(required=False).count() == 1


def test_each_severity_gets_its_own_plays(make_incident):
    s2 = make_incident()
    assert set(s2.checklists.values_list("title", flat=True)) == {
        "S2 first hour (triage)",
        "S2 command",
        "S2 fix",
        "S2 verify and close",
    }
    s3 = make_incident(arr_at_risk=0)
    assert set(s3.checklists.values_list("title", flat=True)) == {
        "S3 triage",
        "S3 command",
        "S3 fix",
        "S3 verify and close",
    }


def test_agreed_channel_starts_clocks_at_reported_at(make_incident, now):
    reported = now - 10 * M
    incident = make_incident(reported_at=reported)
    assert incident.clock_started_at == incident.cycle_started_at == reported
    assert incident.ack_due_at == reported + 30 * M
    assert incident.resolve_due_at == reported + 8 * H
    assert incident.next_update_due_at == reported + 60 * M
    assert incident.ack_warn_at == reported + timedelta(minutes=22, seconds=30)
    assert incident.next_check_at == incident.ack_warn_at
    assert incident.next_deadline_at == incident.ack_due_at
    cycle = ResolveCycle.objects.get(incident=incident)
    assert (cycle.number, cycle.started_at, cycle.target_seconds, cycle.met) == (1, reported, 8 * 3600, None)
    kinds = list(incident.events.values_list("kind", flat=True))
    assert kinds[:2] == [EventKind.CREATED, EventKind.CLOCK_STARTED]
    started = incident.events.get(kind=EventKind.CLOCK_STARTED)
    assert started.new["ack_due_at"] == (reported + 30 * M).isoformat()


def test_unagreed_channel_leaves_clocks_stopped(make_incident, unagreed_channel):
    incident = make_incident(channel=unagreed_channel)
    assert incident.clock_started_at is None
    assert incident.cycle_started_at is None
    assert (incident.ack_due_at, incident.resolve_due_at, incident.next_update_due_at) == (None, None, None)
    assert incident.next_check_at is None
    assert not ResolveCycle.objects.filter(incident=incident).exists()
    assert incident.events.filter(kind=EventKind.CREATED).exists()
    assert not incident.events.filter(kind=EventKind.CLOCK_STARTED).exists()


def test_s3_on_friday_afternoon_is_due_on_monday(make_incident, now):
    friday_4pm = now.replace(hour=16)
    incident = make_incident(arr_at_risk=0, now=friday_4pm)
    assert incident.ack_due_at == friday_4pm + timedelta(days=2, hours=20)  # Monday 12:00 GMT


def test_created_event_explains_the_severity(make_incident, agent):
    incident = make_incident(legal_risk=True)
    event = incident.events.get(kind=EventKind.CREATED)
    assert event.actor == agent
    assert event.detail == "S1 (trigger): S1: Legal risk"
    assert event.new["severity"] == "S1"


def test_clean_impact_quantizes_and_names_fields():
    assert clean_impact(arr_at_risk="1234.5", users_affected_pct=None) == (Decimal("1234.50"), Decimal("0.00"))
    for arr, pct, field in [
        (-1, 0, "arr_at_risk"),
        ("abc", 0, "arr_at_risk"),
        ("NaN", 0, "arr_at_risk"),
        ("1e12", 0, "arr_at_risk"),
        (0, "100.01", "users_affected_pct"),
        (0, -1, "users_affected_pct"),
        (0, "lots", "users_affected_pct"),
    ]:
        with pytest.raises(RuleViolation) as exc:
            clean_impact(arr_at_risk=arr, users_affected_pct=pct)
        assert exc.value.field == field, (arr, pct)


def test_check_severity_choice_without_a_choice_takes_the_floor(agent):
    assert check_severity_choice(chosen=None, floor="S1", reason="", actor=agent) == ("S1", SeveritySource.TRIGGER)
    assert check_severity_choice(chosen="", floor=None, reason="", actor=agent) == ("S3", SeveritySource.TRIGGER)


def test_below_the_default_without_a_trigger_needs_a_reason_not_a_manager(agent):
    with pytest.raises(RuleViolation) as refused:
        check_severity_choice(chosen="S4", floor=None, reason="", actor=agent)
    assert refused.value.field == "severity_reason"
    assert "lower than the default S3" in refused.value.message
    assert check_severity_choice(chosen="S4", floor=None, reason="cosmetic only", actor=agent) == (
        "S4",
        SeveritySource.MANUAL,
    )
