"""escalations.services.incidents: acknowledge, pause/resume, resolve/reopen/close,
severity changes, edits and customer updates — one test at least per playbook rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escalations.choices import EventKind, PauseReason, SeveritySource, Stage, Status
from escalations.models import ChecklistItem, ClockPause, CustomerUpdate, Incident, Postmortem, ResolveCycle
from escalations.services import (
    InvalidTransition,
    NotAllowed,
    RuleViolation,
    VersionConflict,
    checklist_item_set_done,
    customer_update_post,
    incident_acknowledge,
    incident_change_severity,
    incident_close,
    incident_pause,
    incident_reopen,
    incident_resolve,
    incident_resume,
    incident_set_stage,
    incident_update,
)
from escalations.services.common import audited_create
from tests.checklists_support import complete_checklist

pytestmark = pytest.mark.django_db


M = timedelta(minutes=1)
H = timedelta(hours=1)


def tick_stage(incident: Incident, actor, now) -> None:
    """Complete the case's current stage: its facts made true, the other items ticked."""
    complete_checklist(incident, actor, now, stage=incident.stage)


def fresh(incident: Incident) -> Incident:
    return Incident.objects.get(pk=incident.pk)


def resolved(incident: Incident, actor, at) -> Incident:
    tick_stage(incident, actor, at)
    return incident_resolve(incident=incident.pk, resolution="Rolled back the deploy", actor=actor, now=at)


def s1_ready_to_resolve(make_incident, agent, duty_manager, now) -> Incident:
    incident = make_incident(data_risk=True)
    incident_update(
        incident=incident, actor=agent, now=now, commander=duty_manager, bridge_url="https://meet.example.com/s1"
    )
    tick_stage(incident, agent, now)
    return fresh(incident)


# ---- acknowledge


def test_acknowledge_stops_the_ack_clock_and_sets_the_stage_dri(make_incident, agent, now):
    incident = make_incident()
    incident = incident_acknowledge(incident=incident, actor=agent, now=now + 10 * M)
    assert incident.status == Status.ACKNOWLEDGED
    assert incident.acknowledged_at == now + 10 * M
    assert incident.acknowledged_by == agent
    assert incident.stage_dri == agent
    # The ack deadline is no longer pending: the next check is the update warning.
    assert incident.next_check_at == now + 45 * M
    assert incident.next_deadline_at == now + 60 * M
    assert incident.version == 2
    event = incident.events.get(kind=EventKind.ACKNOWLEDGED)
    assert event.new == {"tta_seconds": 600, "met": True}


def test_acknowledge_late_is_recorded_as_missed(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now + 31 * M)
    assert incident.events.get(kind=EventKind.ACKNOWLEDGED).new == {"tta_seconds": 1860, "met": False}


def test_acknowledge_keeps_an_existing_dri_and_refuses_twice(make_incident, agent, other_agent, now):
    incident = make_incident(stage_dri=other_agent)
    incident = incident_acknowledge(incident=incident, actor=agent, now=now)
    assert incident.stage_dri == other_agent
    with pytest.raises(InvalidTransition) as exc:
        incident_acknowledge(incident=incident, actor=agent, now=now)
    assert exc.value.code == "already_acknowledged"


# ---- pause / resume


def test_pause_requires_customer_or_third_party(make_incident, agent, now):
    incident = make_incident()
    for reason in ("engineering_busy", "", "holiday"):
        with pytest.raises(RuleViolation) as exc:
            incident_pause(incident=incident, reason=reason, note="waiting", actor=agent, now=now)
        assert exc.value.field == "reason"
    with pytest.raises(RuleViolation) as exc:
        incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="  ", actor=agent, now=now)
    assert exc.value.field == "note"
    assert fresh(incident).status == Status.NEW
    assert not ClockPause.objects.exists()


def test_while_paused_due_times_are_unknown_and_not_checked(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now + 5 * M)
    incident = incident_pause(
        incident=incident, reason=PauseReason.CUSTOMER, note="Need HAR file", actor=agent, now=now + 10 * M
    )
    assert incident.status == Status.WAITING_ON_CUSTOMER
    assert incident.paused_since == now + 10 * M
    assert incident.pause_reason == PauseReason.CUSTOMER
    # The acknowledge clock stopped before the pause: its due time is a fixed fact.
    assert (incident.ack_due_at, incident.resolve_due_at, incident.next_update_due_at) == (now + 30 * M, None, None)
    assert (incident.resolve_warn_at, incident.update_warn_at) == (None, None)
    assert incident.next_check_at is None
    assert incident.next_deadline_at is None
    pause = ClockPause.objects.get(incident=incident)
    assert (pause.reason, pause.note, pause.started_by, pause.ended_at) == ("customer", "Need HAR file", agent, None)
    with pytest.raises(InvalidTransition) as exc:
        incident_pause(incident=incident, reason=PauseReason.THIRD_PARTY, note="x", actor=agent, now=now + 11 * M)
    assert exc.value.code == "already_paused"


def test_resume_shifts_due_times_by_the_paused_duration(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now + 5 * M)
    incident_pause(incident=incident, reason=PauseReason.THIRD_PARTY, note="AWS ticket", actor=agent, now=now + 10 * M)
    incident = incident_resume(incident=incident, actor=agent, now=now + 40 * M)
    assert incident.status == Status.INVESTIGATING
    assert incident.paused_since is None and incident.pause_reason == ""
    assert incident.ack_due_at == now + 30 * M  # acknowledged before the pause: never moves
    assert incident.resolve_due_at == now + 8 * H + 30 * M
    assert incident.next_update_due_at == now + 90 * M
    assert incident.paused_seconds == 30 * 60
    pause = ClockPause.objects.get(incident=incident)
    assert (pause.ended_at, pause.ended_by) == (now + 40 * M, agent)
    assert incident.events.get(kind=EventKind.RESUMED).new["paused_seconds"] == 1800
    with pytest.raises(InvalidTransition) as exc:
        incident_resume(incident=incident, actor=agent, now=now + 41 * M)
    assert exc.value.code == "not_paused"


def test_resume_after_acknowledge_returns_to_investigating(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="logs", actor=agent, now=now + M)
    assert incident_resume(incident=incident, actor=agent, now=now + 2 * M).status == Status.INVESTIGATING


def test_pause_before_acknowledging_is_refused(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(InvalidTransition) as exc:
        incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="x", actor=agent, now=now + M)
    assert (exc.value.field, exc.value.code) == ("status", "not_acknowledged")
    assert fresh(incident).status == Status.NEW and not ClockPause.objects.filter(incident=incident).exists()


def test_pause_after_the_ack_deadline_keeps_it(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now + 35 * M)
    incident = incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="x", actor=agent, now=now + 40 * M)
    assert incident.ack_due_at == now + 30 * M  # already passed: a pause cannot undo it
    assert incident.resolve_due_at is None


# ---- resolve


def test_resolve_refused_while_required_items_are_open(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(RuleViolation) as exc:
        incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now)
    assert (exc.value.field, exc.value.code) == ("checklist", "checklist_open")
    # Resolving acknowledges, so the acknowledge item is not among those still open.
    assert "First customer update sent" in exc.value.message and "Acknowledge the page" not in exc.value.message
    assert fresh(incident).status == Status.NEW and fresh(incident).acknowledged_at is None  # nothing kept


def test_resolve_needs_a_resolution(make_incident, agent, now):
    with pytest.raises(RuleViolation) as exc:
        incident_resolve(incident=make_incident(), resolution=" ", actor=agent, now=now)
    assert exc.value.field == "resolution"


def test_s1_resolve_needs_commander_then_bridge(make_incident, agent, duty_manager, now):
    incident = make_incident(data_risk=True)
    # Everything but the commander and the bridge (their items tick themselves).
    incident_acknowledge(incident=incident, actor=agent, now=now)
    customer_update_post(incident=incident, body="On it", channel=None, actor=agent, now=now)
    for item in ChecklistItem.objects.filter(checklist__incident=incident, checklist__stage="triage", fact=""):
        checklist_item_set_done(item=item, done=True, actor=agent, now=now)
    with pytest.raises(RuleViolation) as exc:
        incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now)
    assert exc.value.field == "commander"
    incident_update(incident=incident, actor=agent, now=now, commander=duty_manager)
    with pytest.raises(RuleViolation) as exc:
        incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now)
    assert exc.value.field == "bridge_url"
    incident_update(incident=incident, actor=agent, now=now, bridge_url="https://meet.example.com/x")
    assert incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now + H).status == Status.RESOLVED


def test_resolve_records_a_met_cycle(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + 2 * H)
    assert incident.status == Status.RESOLVED
    assert incident.resolved_at == now + 2 * H
    assert incident.next_check_at is None and incident.next_update_due_at is None
    cycle = ResolveCycle.objects.get(incident=incident)
    assert (cycle.ended_at, cycle.elapsed_seconds, cycle.met) == (now + 2 * H, 7200, True)
    met = incident.events.get(kind=EventKind.MET)
    assert met.new == {"clock": "resolve", "cycle": 1, "met": True}


def test_resolve_after_the_target_records_a_missed_cycle(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + 9 * H)
    cycle = ResolveCycle.objects.get(incident=incident)
    assert (cycle.elapsed_seconds, cycle.met) == (9 * 3600, False)
    assert incident.events.filter(kind=EventKind.MISSED, new__clock="resolve").exists()
    # The breach is the sweep's to record; resolving records the cycle's result only.
    assert not incident.events.filter(kind=EventKind.BREACHED).exists()


def test_resolve_while_paused_ends_the_pause_and_excludes_it(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    tick_stage(incident, agent, now)
    incident_pause(incident=incident, reason=PauseReason.CUSTOMER, note="x", actor=agent, now=now + H)
    incident = incident_resolve(incident=incident, resolution="Customer confirmed", actor=agent, now=now + 10 * H)
    assert incident.paused_since is None and incident.pause_reason == ""
    assert ClockPause.objects.get(incident=incident).ended_at == now + 10 * H
    cycle = ResolveCycle.objects.get(incident=incident)
    assert (cycle.elapsed_seconds, cycle.met) == (3600, True)


def test_resolve_twice_is_refused(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + H)
    with pytest.raises(InvalidTransition) as exc:
        incident_resolve(incident=incident, resolution="again", actor=agent, now=now + 2 * H)
    assert exc.value.code == "already_resolved"


# ---- reopen / close


def test_reopen_starts_a_new_cycle_with_the_full_target(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + 9 * H)  # cycle 1 missed
    with pytest.raises(RuleViolation) as exc:
        incident_reopen(incident=incident, reason="", actor=agent, now=now + 10 * H)
    assert exc.value.field == "reason"
    incident = incident_reopen(incident=incident, reason="Came back", actor=agent, now=now + 10 * H)
    assert incident.status == Status.INVESTIGATING
    assert (incident.resolve_cycle, incident.reopen_count) == (2, 1)
    assert incident.cycle_started_at == now + 10 * H
    assert incident.resolved_at is None
    assert incident.resolve_due_at == now + 18 * H
    assert incident.next_update_due_at == now + 11 * H
    cycles = list(ResolveCycle.objects.filter(incident=incident).values_list("number", "met", "ended_at"))
    assert cycles == [(1, False, now + 9 * H), (2, None, None)]
    assert incident.events.get(kind=EventKind.REOPENED).new["cycle"] == 2

    incident = incident_resolve(incident=incident, resolution="Really fixed", actor=agent, now=now + 11 * H)
    cycles = list(ResolveCycle.objects.filter(incident=incident).values_list("number", "elapsed_seconds", "met"))
    assert cycles == [(1, 9 * 3600, False), (2, 3600, True)]


def test_reopen_of_an_open_case_is_refused(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    with pytest.raises(InvalidTransition):
        incident_reopen(incident=incident, reason="why not", actor=agent, now=now)
    assert fresh(incident).status == Status.ACKNOWLEDGED
    assert fresh(incident).reopen_count == 0


def test_resolving_an_s1_opens_its_rca_so_it_can_be_closed(make_incident, agent, duty_manager, now):
    incident = s1_ready_to_resolve(make_incident, agent, duty_manager, now)
    incident_resolve(incident=incident, resolution="Fixed", actor=agent, now=now + H)
    assert Postmortem.objects.filter(incident=incident).count() == 1
    incident = incident_close(incident=incident, actor=agent, now=now + 2 * H)
    assert (incident.status, incident.closed_at, incident.stage) == (Status.CLOSED, now + 2 * H, Stage.VERIFY)


def test_close_requires_an_rca_when_the_policy_asks_for_one_after_resolve(make_incident, agent, now):
    incident = make_incident(arr_at_risk=0)  # S3: no RCA required at resolve
    resolved(incident, agent, now + H)
    assert not Postmortem.objects.filter(incident=incident).exists()
    incident.policy.requires_rca = True
    incident.policy.save(update_fields=["requires_rca"])
    with pytest.raises(RuleViolation) as exc:
        incident_close(incident=incident, actor=agent, now=now + 2 * H)
    assert exc.value.field == "postmortem"
    assert fresh(incident).status == Status.RESOLVED
    audited_create(Postmortem, history_user=agent, incident=incident, author=agent, summary="Bad deploy")
    assert incident_close(incident=incident, actor=agent, now=now + 2 * H).status == Status.CLOSED


def test_close_needs_a_resolved_case(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(InvalidTransition):
        incident_close(incident=incident, actor=agent, now=now)
    resolved(incident, agent, now + H)
    assert incident_close(incident=incident, actor=agent, now=now + 2 * H).status == Status.CLOSED


def test_reopen_a_closed_case(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + H)
    incident_close(incident=incident, actor=agent, now=now + 2 * H)
    incident = incident_reopen(incident=incident, reason="Regression", actor=agent, now=now + 3 * H)
    assert (incident.status, incident.closed_at, incident.resolve_cycle) == (Status.INVESTIGATING, None, 2)


def test_reopen_on_an_unagreed_channel_does_not_start_clocks(make_incident, agent, unagreed_channel, now):
    incident = make_incident(channel=unagreed_channel)
    incident = resolved(incident, agent, now + H)
    incident = incident_reopen(incident=incident, reason="Regression", actor=agent, now=now + 2 * H)
    assert incident.clock_started_at is None
    assert (incident.ack_due_at, incident.resolve_due_at) == (None, None)
    # Logged on an agreed channel later: the clocks start then, in the current cycle.
    incident = incident_update(incident=incident, actor=agent, now=now + 3 * H, channel=make_incident().channel)
    assert incident.clock_started_at == now + 3 * H
    assert incident.resolve_due_at == now + 11 * H
    assert list(ResolveCycle.objects.filter(incident=incident).values_list("number", flat=True)) == [2]


# ---- severity changes


def test_upgrade_keeps_elapsed_time_and_can_be_due_at_once(make_incident, agent, now):
    incident = make_incident()
    incident = incident_change_severity(
        incident=incident, severity="S1", reason="Whole EU region down", actor=agent, now=now + 20 * M
    )
    assert incident.severity == "S1"
    assert incident.severity_source == SeveritySource.MANUAL
    assert incident.clock_started_at == now  # the original start
    assert incident.resolve_due_at == now + 2 * H
    assert incident.ack_due_at == now + 5 * M  # already in the past
    assert incident.ack_due_at < now + 20 * M
    assert incident.next_check_at == incident.ack_warn_at  # the sweep acts at once
    assert (incident.ack_target_seconds, incident.resolve_target_seconds) == (300, 7200)
    changed = incident.events.get(kind=EventKind.SEVERITY_CHANGED)
    assert (changed.old, changed.new["severity"]) == ({"severity": "S2"}, "S1")
    targets = incident.events.get(kind=EventKind.TARGETS_CHANGED)
    assert targets.old["resolve_due_at"] == (now + 8 * H).isoformat()
    assert targets.new["resolve_due_at"] == (now + 2 * H).isoformat()
    # The S1 plays are added alongside the S2 ones.
    assert incident.checklists.filter(title__startswith="S1").count() == 4


def test_severity_change_needs_a_reason_and_a_real_change(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(RuleViolation) as exc:
        incident_change_severity(incident=incident, severity="S1", reason="", actor=agent, now=now)
    assert exc.value.field == "reason"
    with pytest.raises(RuleViolation) as exc:
        incident_change_severity(incident=incident, severity="S2", reason="same", actor=agent, now=now)
    assert exc.value.code == "unchanged"


def test_downgrade_below_the_triggers_needs_a_manager(make_incident, agent, manager, now):
    incident = make_incident()
    with pytest.raises(NotAllowed):
        incident_change_severity(incident=incident, severity="S3", reason="minor", actor=agent, now=now)
    assert fresh(incident).severity == "S2"
    incident = incident_change_severity(
        incident=incident, severity="S3", reason="ARR overstated", actor=manager, now=now
    )
    assert incident.severity == "S3"
    assert incident.calendar_snapshot["is_24x7"] is False


def test_lowering_a_raised_case_back_to_the_floor_needs_no_manager(make_incident, agent, now):
    incident = make_incident(severity="S1", severity_reason="CEO call")
    incident = incident_change_severity(incident=incident, severity="S2", reason="Calmer now", actor=agent, now=now)
    assert incident.severity == "S2"


# ---- edits


def test_raising_impact_facts_raises_the_severity(make_incident, agent, now):
    incident = make_incident()
    incident = incident_update(incident=incident, actor=agent, now=now + 10 * M, users_affected_pct=25)
    assert incident.severity == "S1"
    assert incident.trigger_severity == "S1"
    assert incident.severity_source == SeveritySource.TRIGGER
    assert incident.severity_reason == "S1: 10 % or more of users affected"
    assert incident.resolve_due_at == now + 2 * H
    assert incident.events.filter(kind=EventKind.SEVERITY_CHANGED).exists()
    assert incident.events.filter(kind=EventKind.TARGETS_CHANGED).exists()
    assert incident.events.get(kind=EventKind.EDITED).new == {"users_affected_pct": "25.00"}


def test_lowering_impact_facts_below_the_floor_needs_a_manager_and_a_reason(make_incident, agent, manager, now):
    incident = make_incident(data_risk=True)
    before = (Incident.objects.values().get(pk=incident.pk), incident.events.count())
    with pytest.raises(NotAllowed) as refused:
        incident_update(incident=incident, actor=agent, now=now, data_risk=False, arr_at_risk=0)
    assert refused.value.field == "arr_at_risk" and "needs a Manager" in refused.value.message
    with pytest.raises(RuleViolation) as no_reason:
        incident_update(incident=incident, actor=manager, now=now, data_risk=False, arr_at_risk=0)
    assert no_reason.value.field == "reason"
    assert (Incident.objects.values().get(pk=incident.pk), incident.events.count()) == before
    # A fact that keeps the floor is anyone's edit.
    incident = incident_update(incident=incident, actor=agent, now=now, arr_at_risk=10)
    assert incident.trigger_severity == "S1"

    incident = incident_update(
        incident=incident, actor=manager, now=now, data_risk=False, arr_at_risk=0, reason="Data was never exposed"
    )
    assert incident.severity == "S1"  # the severity itself drops only by an explicit change
    assert incident.trigger_severity == ""
    assert incident.trigger_explanation == "No trigger rule matched."
    assert not incident.events.filter(kind=EventKind.SEVERITY_CHANGED).exists()
    lowered = incident.events.get(detail__startswith="Severity floor lowered")
    assert lowered.actor == manager and "Data was never exposed" in lowered.detail


def test_the_floor_is_the_highest_trigger_severity_of_the_cycle(make_incident, agent, manager, now):
    """The attack: clear the facts, then choose a low severity. Both are refused."""
    incident = make_incident(data_risk=True)
    with pytest.raises(NotAllowed):
        incident_update(incident=incident, actor=agent, now=now, data_risk=False, legal_risk=False, arr_at_risk=0)
    with pytest.raises(NotAllowed):
        incident_change_severity(incident=incident, severity="S4", reason="fine", actor=agent, now=now)
    assert Incident.objects.get(pk=incident.pk).severity == "S1"


def test_moving_to_an_agreed_channel_starts_the_clocks(make_incident, agent, email_channel, unagreed_channel, now):
    incident = make_incident(channel=unagreed_channel)
    incident = incident_update(incident=incident, actor=agent, now=now + H, channel=email_channel)
    assert incident.clock_started_at == incident.cycle_started_at == now + H
    assert incident.ack_due_at == now + H + 30 * M
    assert incident.resolve_due_at == now + 9 * H
    assert ResolveCycle.objects.get(incident=incident).started_at == now + H
    assert incident.events.filter(kind=EventKind.CLOCK_STARTED).count() == 1
    # Moving again does not restart them.
    incident = incident_update(incident=incident, actor=agent, now=now + 2 * H, channel=unagreed_channel)
    incident = incident_update(incident=incident, actor=agent, now=now + 3 * H, channel=email_channel)
    assert incident.clock_started_at == now + H


def test_update_refuses_unknown_fields_and_blank_title(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(RuleViolation) as exc:
        incident_update(incident=incident, actor=agent, now=now, severity="S4")
    assert exc.value.field == "severity"
    with pytest.raises(RuleViolation) as exc:
        incident_update(incident=incident, actor=agent, now=now, title="  ")
    assert exc.value.field == "title"


def test_update_without_a_change_writes_nothing(make_incident, agent, now):
    incident = make_incident()
    same = incident_update(incident=incident, actor=agent, now=now, title=incident.title, arr_at_risk=60000)
    assert same.version == incident.version


def test_owners_recorded_as_assignment(make_incident, agent, duty_manager, now):
    incident = incident_update(incident=make_incident(), actor=agent, now=now, stage_dri=duty_manager)
    assert incident.stage_dri == duty_manager
    assert incident.events.get(kind=EventKind.ASSIGNED).new == {"stage_dri": str(duty_manager)}
    assert not incident.events.filter(kind=EventKind.EDITED).exists()


# ---- stages


def test_set_stage_enforces_exit_criteria(make_incident, agent, now):
    incident = make_incident()
    with pytest.raises(RuleViolation) as exc:
        incident_set_stage(incident=incident, stage=Stage.COMMAND, actor=agent, now=now)
    assert exc.value.field == "checklist"
    tick_stage(incident, agent, now)
    incident = incident_set_stage(incident=incident, stage=Stage.COMMAND, actor=agent, now=now)
    assert incident.stage == Stage.COMMAND
    with pytest.raises(RuleViolation) as exc:
        incident_set_stage(incident=incident, stage="nowhere", actor=agent, now=now)
    assert exc.value.field == "stage"


# ---- customer updates


def test_customer_update_resets_the_cadence(make_incident, agent, now):
    incident = make_incident()
    update = customer_update_post(incident=incident, body="Investigating", channel=None, actor=agent, now=now + 20 * M)
    assert update.was_late is False
    assert update.channel == incident.channel
    incident = fresh(incident)
    assert incident.update_seq == 1
    assert incident.last_customer_update_at == now + 20 * M
    assert incident.next_update_due_at == now + 80 * M


def test_late_customer_update_is_flagged(make_incident, agent, now):
    incident = make_incident()
    update = customer_update_post(
        incident=incident, body="Sorry for the wait", channel=None, actor=agent, now=now + 61 * M
    )
    assert update.was_late is True
    assert fresh(incident).next_update_due_at == now + 121 * M
    with pytest.raises(RuleViolation) as exc:
        customer_update_post(incident=incident, body="", channel=None, actor=agent, now=now)
    assert exc.value.field == "body"
    assert CustomerUpdate.objects.count() == 1


# ---- optimistic locking


def test_stale_version_is_a_conflict_and_writes_nothing(make_incident, agent, other_agent, now):
    incident = make_incident()
    incident_acknowledge(incident=incident, actor=agent, now=now, expected_version=1)
    history_rows = incident.history.count()
    with pytest.raises(VersionConflict) as exc:
        incident_pause(
            incident=incident, reason="customer", note="x", actor=other_agent, now=now + M, expected_version=1
        )
    assert (exc.value.field, exc.value.current_version, exc.value.status_code) == ("version", 2, 412)
    assert "status" in exc.value.changed
    current = fresh(incident)
    assert (current.version, current.status) == (2, Status.ACKNOWLEDGED)
    assert incident.history.count() == history_rows
    assert not ClockPause.objects.exists()


# ---- rules from review: stage order, cycles, severity changes, owners


def test_stages_move_forward_one_at_a_time_or_back(make_incident, agent, now):
    incident = incident_acknowledge(incident=make_incident(), actor=agent, now=now)
    tick_stage(incident, agent, now)
    with pytest.raises(RuleViolation) as exc:
        incident_set_stage(incident=incident, stage=Stage.VERIFY, actor=agent, now=now)
    assert (exc.value.field, exc.value.code) == ("stage", "stage_skipped")
    incident = incident_set_stage(incident=incident, stage=Stage.COMMAND, actor=agent, now=now)
    back = incident_set_stage(incident=incident, stage=Stage.TRIAGE, reason="Impact grew", actor=agent, now=now)
    assert back.stage == Stage.TRIAGE


def s1_in_verify(make_incident, agent, now) -> Incident:
    """An S1 walked through triage, command and fix by the agent (commander and bridge
    named, every item ticked), now in Verify with its items open."""
    incident = make_incident(data_risk=True)
    for stage in (Stage.COMMAND, Stage.FIX, Stage.VERIFY):
        tick_stage(fresh(incident), agent, now)
        incident = incident_set_stage(incident=incident.pk, stage=stage, actor=agent, now=now + M)
    return incident


def test_moving_back_without_a_reason_is_refused_naming_it_and_writes_nothing(make_incident, agent, now):
    incident = s1_in_verify(make_incident, agent, now)
    before = (incident.version, incident.history.count(), incident.events.count())
    for blank in ("", "   "):
        with pytest.raises(RuleViolation) as refused:
            incident_set_stage(incident=incident.pk, stage=Stage.FIX, reason=blank, actor=agent, now=now + H)
        assert (refused.value.field, refused.value.code) == ("reason", "reason_required")
        assert "Say why the case moves back from Verify and close to Fix" in refused.value.message
    current = fresh(incident)
    assert current.stage == Stage.VERIFY
    assert (current.version, current.history.count(), current.events.count()) == before


def test_moving_back_with_a_reason_is_on_the_timeline(make_incident, agent, manager, now):
    incident = s1_in_verify(make_incident, agent, now)
    moved = incident_set_stage(
        incident=incident.pk, stage=Stage.FIX, reason="  The fix did not hold in the EU region ", actor=manager,
        now=now + H,
    )  # fmt: skip
    assert (moved.stage, moved.stage_dri) == (Stage.FIX, manager)
    event = moved.events.filter(kind=EventKind.STAGE_CHANGED).latest("at", "id")
    assert (event.actor, event.at, event.old, event.new) == (manager, now + H, {"stage": "verify"}, {"stage": "fix"})
    assert event.detail == "Moved back from Verify and close to Fix: The fix did not hold in the EU region"
    # Forward moves stay as they were: no reason asked, none written.
    forward = moved.events.filter(kind=EventKind.STAGE_CHANGED, new__stage="verify").get()
    assert forward.detail == ""


def test_a_stage_reason_too_long_for_the_timeline_is_refused(make_incident, agent, now):
    from escalations.services.case_edits import STAGE_REASON_MAX

    incident = s1_in_verify(make_incident, agent, now)
    with pytest.raises(RuleViolation) as refused:
        incident_set_stage(
            incident=incident.pk, stage=Stage.FIX, reason="x" * (STAGE_REASON_MAX + 1), actor=agent, now=now + H
        )
    assert (refused.value.field, refused.value.code) == ("reason", "max_length")
    assert fresh(incident).stage == Stage.VERIFY


def test_reopen_gives_the_update_clock_a_new_sequence(make_incident, agent, now):
    incident = resolved(make_incident(), agent, now + H)
    seq = incident.update_seq
    incident = incident_reopen(incident=incident, reason="Back again", actor=agent, now=now + 2 * H)
    assert incident.update_seq == seq + 1


def test_resolving_an_unacknowledged_case_acknowledges_it(make_incident, agent, now):
    incident = make_incident()
    customer_update_post(incident=incident, body="On it", channel=None, actor=agent, now=now)
    for item in ChecklistItem.objects.filter(checklist__incident=incident, checklist__stage="triage", fact=""):
        checklist_item_set_done(item=item, done=True, actor=agent, now=now)
    incident = incident_resolve(incident=incident, resolution="Fixed at once", actor=agent, now=now + 10 * M)
    assert (incident.acknowledged_at, incident.acknowledged_by) == (now + 10 * M, agent)
    assert incident.events.filter(kind=EventKind.ACKNOWLEDGED, detail="Acknowledged by resolving").exists()


def test_severity_change_retargets_the_open_cycle(make_incident, agent, now):
    incident = make_incident()  # S2: 8 h
    incident = incident_change_severity(incident=incident, severity="S1", reason="Spreading", actor=agent, now=now)
    assert ResolveCycle.objects.get(incident=incident, number=1).target_seconds == 2 * 3600


def test_intake_refuses_an_owner_who_cannot_work_cases(make_incident, outsider):
    with pytest.raises(RuleViolation) as exc:
        make_incident(stage_dri=outsider)
    assert exc.value.field == "stage_dri"
    assert not Incident.objects.exists()


def test_no_progress_rule_raises_idle_cases_once(make_incident, agent, now):
    from escalations.models import TriggerRule
    from escalations.services.common import system_user
    from escalations.services.severity import incident_raise_by_trigger, no_progress_candidates

    TriggerRule.objects.create(name="Idle for 2 hours", kind="no_progress", threshold=120, severity="S1")
    idle = make_incident()  # S2, last progress at now
    busy = make_incident()
    customer_update_post(incident=busy, body="Still on it", channel=None, actor=agent, now=now + 100 * M)
    assert no_progress_candidates(now=now + 119 * M) == []
    found = no_progress_candidates(now=now + 121 * M)
    assert found == [(idle.pk, "S1", "S1: Idle for 2 hours")]
    raised = incident_raise_by_trigger(
        incident=idle.pk, severity="S1", explanation=found[0][2], actor=system_user(), now=now + 121 * M
    )
    assert (raised.severity, raised.severity_source) == ("S1", SeveritySource.TRIGGER)
    assert raised.resolve_due_at == now + 2 * H  # the new target from the original start
    assert raised.events.filter(kind=EventKind.SEVERITY_CHANGED).count() == 1
    assert no_progress_candidates(now=now + 121 * M) == []  # already S1: nothing more to do


def test_moving_a_stage_names_the_mover_its_dri_and_only_an_owner_moves_it(
    make_incident, agent, other_agent, manager, now
):
    incident = make_incident(stage_dri=agent)
    tick_stage(incident, agent, now)
    with pytest.raises(NotAllowed):
        incident_set_stage(incident=incident, stage="command", actor=other_agent, now=now)
    moved = incident_set_stage(incident=incident, stage="command", actor=manager, now=now + M)
    assert (moved.stage, moved.stage_dri) == ("command", manager)
    assert moved.events.filter(kind=EventKind.ASSIGNED, new__stage_dri=str(manager)).exists()
