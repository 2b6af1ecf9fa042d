"""The breach sweep on the real database: what it records, whom it escalates to, what it
never does (paused, acknowledged, resolved, drills), and that it does everything once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalations.choices import (
    ChainTarget,
    ClockKind,
    EventKind,
    NotificationChannel,
    NotificationStatus,
    Stage,
)
from escalations.models import (
    Breach,
    CaseEvent,
    Escalation,
    EscalationStep,
    HandoffPacket,
    Incident,
    Notification,
    SeverityPolicy,
    SlaWarning,
    SweepHeartbeat,
)
from escalations.services import (
    customer_update_post,
    handoff_offer,
    incident_acknowledge,
    incident_pause,
    incident_resolve,
    incident_resume,
)
from escalations.services import sweep as sweep_module
from escalations.services.common import system_user
from escalations.services.sweep import sweep_run
from escalations.services.sweep_health import sweep_status
from tests.checklists_support import complete_checklist
from tests.engine_support import oncall_fixture, roster  # noqa: F401
from tests.factories import UserFactory

M = timedelta(minutes=1)


def _sweep(at):
    return sweep_run(now=at, source="test")


def _kinds(incident):
    return sorted((b.kind, b.cycle) for b in Breach.objects.filter(incident=incident))


def test_ack_breach_is_recorded_once_and_escalates_to_the_duty_manager(make_incident, now, team, oncall):
    incident = make_incident(team=team)  # S2: acknowledge within 30 minutes
    assert _sweep(now + 29 * M).breaches == 0

    result = _sweep(now + 31 * M)
    assert result.breaches == 1 and result.escalations == 1
    breach = Breach.objects.get(incident=incident)
    assert (breach.kind, breach.cycle, breach.due_at, breach.severity) == ("ack", 1, now + 30 * M, "S2")
    escalation = Escalation.objects.get(incident=incident)
    assert escalation.level == 1 and escalation.breach == breach and escalation.actor == system_user()
    assert {n["user"] for n in escalation.notified if n["user"]} == {oncall["dm"].pk}
    channels = set(Notification.objects.filter(escalation=escalation).values_list("channel", flat=True))
    assert channels == {NotificationChannel.IN_APP, NotificationChannel.EMAIL, NotificationChannel.WEBHOOK}
    webhook = Notification.objects.get(escalation=escalation, channel=NotificationChannel.WEBHOOK)
    assert webhook.address == team.webhook_url
    assert webhook.payload["links"]["acknowledge"].endswith(f"/cases/{incident.pk}/acknowledge/")
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.ack_breached_at == now + 31 * M
    assert CaseEvent.objects.filter(incident=incident, kind=EventKind.BREACHED).count() == 1
    assert CaseEvent.objects.filter(incident=incident, kind=EventKind.ESCALATED).count() == 1
    # History rows carry the system user.
    assert incident.history.latest().history_user == system_user()
    assert breach.history.get().history_user == system_user()

    again = _sweep(now + 31 * M)
    assert (again.breaches, again.escalations, again.examined) == (0, 0, 0)
    assert Breach.objects.filter(incident=incident).count() == 1
    assert Escalation.objects.filter(incident=incident).count() == 1


def test_unresolved_case_climbs_the_chain_after_each_wait(make_incident, now, team, oncall, agent):
    # S1: ack 5 min; chain L1 DM (0), L2 commander (+5), L3 fix lead (+10).
    incident = make_incident(team=team, data_risk=True)
    assert incident.severity == "S1"
    _sweep(now + 6 * M)
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.next_escalation_at == now + 11 * M
    assert incident.next_check_at == now + 11 * M  # the chain step is the next thing to do

    assert _sweep(now + 10 * M).escalations == 0
    result = _sweep(now + 11 * M)
    assert result.escalations == 1 and result.breaches == 0
    second = Escalation.objects.get(incident=incident, level=2)
    assert second.breach is None and second.step.target == ChainTarget.COMMANDER
    assert [n["user"] for n in second.notified if n["channel"] == "in_app"] == [oncall["commander"].pk]

    # Acknowledging does not stop the climb; only resolving does.
    incident_acknowledge(incident=incident, actor=agent, now=now + 12 * M)
    _sweep(now + 21 * M)
    assert Escalation.objects.get(incident=incident, level=3).step.target == ChainTarget.FIX_LEAD
    levels = list(Escalation.objects.filter(incident=incident).values_list("level", flat=True))
    assert levels == [1, 2, 3]


def test_warning_fires_once_at_the_policy_threshold(make_incident, now, team, oncall):
    incident = make_incident(team=team)  # S2 ack 30 min → warning at 22.5 min
    assert _sweep(now + 22 * M).warnings == 0
    result = _sweep(now + 23 * M)
    assert result.warnings == 1 and result.breaches == 0 and result.escalations == 0
    warning = SlaWarning.objects.get(incident=incident)
    assert (warning.kind, warning.warn_at, warning.due_at) == (
        "ack",
        now + 22 * M + 30 * timedelta(seconds=1),
        now + 30 * M,
    )
    notes = Notification.objects.filter(incident=incident, idempotency_key__startswith="warn:")
    assert {n.recipient_id for n in notes} == {oncall["dm"].pk}
    assert _sweep(now + 24 * M).warnings == 0
    assert SlaWarning.objects.filter(incident=incident).count() == 1


def test_paused_case_never_breaches_while_paused(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)  # S2: customer update every 60 min
    incident_acknowledge(incident=incident, actor=agent, now=now + 5 * M)  # the ack clock never pauses
    incident_pause(incident=incident, reason="customer", note="Waiting for logs", actor=agent, now=now + 10 * M)
    incident.refresh_from_db()
    assert incident.next_update_due_at is None and incident.resolve_due_at is None and incident.next_check_at is None
    assert _sweep(now + 5 * 60 * M).breaches == 0
    incident_resume(incident=incident, actor=agent, now=now + 300 * M)
    incident.refresh_from_db()
    assert incident.next_update_due_at == now + 350 * M  # 10 min used before the pause, 50 left
    assert _sweep(now + 349 * M).breaches == 0
    assert _sweep(now + 351 * M).breaches == 1
    assert _kinds(incident) == [("update", 1)]


def test_deadline_passed_before_the_pause_still_breaches(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    # Sweep down from +59 to +70; the case was paused at +65, after its update deadline.
    incident_pause(incident=incident, reason="third_party", note="Vendor ticket", actor=agent, now=now + 65 * M)
    _sweep(now + 70 * M)
    breach = Breach.objects.get(incident=incident)
    assert breach.kind == "update" and breach.due_at == now + 60 * M
    # Paused: the chain does not climb even when its next rung is due.
    assert _sweep(now + 200 * M).escalations == 0


def test_acknowledged_case_never_ack_breaches(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + 5 * M)
    assert _sweep(now + 59 * M).breaches == 0
    assert Breach.objects.filter(incident=incident).count() == 0
    # The update cadence (60 min) still runs.
    _sweep(now + 61 * M)
    assert _kinds(incident) == [("update", 1)]


def _resolve(incident, actor, at):
    complete_checklist(incident, actor, at, stage=incident.stage)
    return incident_resolve(incident=incident, resolution="Fixed the config", actor=actor, now=at)


def test_resolved_case_never_resolve_breaches_and_stops_the_chain(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    customer_update_post(incident=incident, body="Looking", channel=None, actor=agent, now=now + 2 * M)
    _resolve(incident, agent, now + 3 * M)
    incident.refresh_from_db()
    assert incident.next_check_at is None
    assert _sweep(now + 48 * 60 * M).breaches == 0
    assert Breach.objects.filter(incident=incident).count() == 0


def test_update_breach_cycles_follow_customer_updates(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    _sweep(now + 61 * M)  # update 1 late
    customer_update_post(incident=incident, body="Still on it", channel=None, actor=agent, now=now + 62 * M)
    _sweep(now + 123 * M)  # update 2 late
    assert _kinds(incident) == [("update", 1), ("update", 2)]
    # Each breach escalated once: levels 1 and 2.
    assert list(Escalation.objects.filter(incident=incident).values_list("level", flat=True)) == [1, 2]


def test_drill_cases_notify_nobody_real(make_incident, now, team, oncall, duty_manager):
    incident = make_incident(team=team, is_drill=True, actor=duty_manager)
    pages = Notification.objects.filter(incident=incident)
    assert pages.exists() and set(pages.values_list("status", flat=True)) == {NotificationStatus.SUPPRESSED}
    _sweep(now + 31 * M)
    assert Escalation.objects.filter(incident=incident).count() == 1
    statuses = set(Notification.objects.filter(incident=incident).values_list("status", flat=True))
    assert statuses == {NotificationStatus.SUPPRESSED}
    assert not Notification.objects.filter(incident=incident, next_attempt_at__isnull=False).exists()


def test_executives_only_where_the_chain_and_policy_say_so(make_incident, now, team, oncall, agent):
    executive = UserFactory(username="eve_exec")
    roster_exec = {"executive": executive}
    from tests.engine_support import shift

    shift(executive, team, "executive", now)
    # S2 does not allow executive escalation even if someone adds an executive rung.
    s2 = SeverityPolicy.objects.get(key="S2")
    EscalationStep.objects.create(policy=s2, level=5, target=ChainTarget.EXECUTIVE, wait=timedelta(0))
    incident = make_incident(team=team)
    for minutes in (31, 61, 121, 181, 241, 301, 400, 500):
        _sweep(now + minutes * M)
    assert not Escalation.objects.filter(incident=incident, is_executive=True).exists()
    assert not Notification.objects.filter(recipient=roster_exec["executive"]).exists()

    # S1 allows it: its fifth rung reaches the executive on call.
    s1_case = make_incident(team=team, data_risk=True, now=now + 500 * M)
    t = now + 500 * M
    for minutes in (6, 11, 21, 36, 66):
        _sweep(t + minutes * M)
    top = Escalation.objects.get(incident=s1_case, level=5)
    assert top.is_executive and any(n["user"] == executive.pk for n in top.notified)


def test_handoff_not_accepted_in_time_breaches_and_escalates(make_incident, now, agent, other_agent, team, oncall):
    incident = make_incident(team=team)
    handoff = handoff_offer(
        incident=incident, actor=agent, now=now + M, to_stage=Stage.TRIAGE, to_user=other_agent,
        summary="Checkout down", customer_impact="EU orders fail", next_steps="Check the gateway",
    )  # fmt: skip
    incident_acknowledge(incident=incident, actor=agent, now=now + 2 * M)
    # S2 acceptance time box: 15 minutes.
    assert _sweep(now + 15 * M).handoff_breaches == 0
    result = _sweep(now + 17 * M)
    assert result.handoff_breaches == 1
    breach = Breach.objects.get(incident=incident, kind=ClockKind.HANDOFF)
    assert breach.cycle == handoff.pk and breach.handoff_id == handoff.pk and breach.due_at == now + 16 * M
    handoff.refresh_from_db()
    assert handoff.accept_breached_at == now + 17 * M
    assert Escalation.objects.get(incident=incident).breach == breach
    assert _sweep(now + 18 * M).handoff_breaches == 0
    assert HandoffPacket.history.filter(id=handoff.pk).latest().history_user == system_user()


def test_a_bad_row_is_pushed_forward_and_does_not_stall_the_sweep(make_incident, now, team, oncall, monkeypatch):
    bad = make_incident(team=team, title="Bad row")
    good = make_incident(team=team, title="Good row")
    real = sweep_module.plan_incident

    def flaky(incident, **kwargs):
        if incident.pk == bad.pk:
            raise ValueError("corrupt calendar snapshot")
        return real(incident, **kwargs)

    monkeypatch.setattr(sweep_module, "plan_incident", flaky)
    result = _sweep(now + 31 * M)
    assert result.errors == 1 and result.breaches == 1
    assert Breach.objects.filter(incident=good).count() == 1
    bad.refresh_from_db()
    assert bad.next_check_at == now + 32 * M and Breach.objects.filter(incident=bad).count() == 0
    assert SweepHeartbeat.objects.latest("finished_at").errors == 1
    monkeypatch.setattr(sweep_module, "plan_incident", real)
    assert _sweep(now + 32 * M).breaches == 1


def test_unique_constraint_guard_handles_an_already_recorded_breach(make_incident, now, team, oncall):
    incident = make_incident(team=team)
    # A breach recorded while the marker was lost (e.g. restored from a backup).
    Breach.objects.create(
        incident=incident, kind="ack", cycle=1, severity="S2", due_at=now + 30 * M, detected_at=now + 30 * M
    )
    result = _sweep(now + 31 * M)
    assert result.errors == 0
    assert Breach.objects.filter(incident=incident).count() == 1
    incident.refresh_from_db()
    assert incident.ack_breached_at == now + 31 * M
    assert incident.next_check_at > now + 31 * M


def test_queries_per_sweep_do_not_grow_with_the_cases_due(make_incident, now, team, oncall, customer):
    def count(n_cases, at):
        for i in range(n_cases):
            make_incident(team=team, title=f"case {i}", now=at - 31 * M)
        with CaptureQueriesContext(connection) as ctx:
            result = _sweep(at)
        assert result.breaches == n_cases
        return len(ctx.captured_queries)

    few = count(2, now + 100 * M)
    many = count(12, now + 110 * M)
    assert many == few, (few, many)
    with CaptureQueriesContext(connection) as ctx:
        _sweep(now + 110 * M)
    assert len(ctx.captured_queries) <= 12  # nothing due: roster, two empty scans, heartbeat


def test_heartbeat_status_healthz_and_command(make_incident, now, team, oncall, client, settings):
    from django.utils import timezone

    settings.SWEEP_STALE_AFTER_SECONDS = 60
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["sweep"]["reason"] == "no sweep has run yet"
    assert client.get("/healthz?check=db").status_code == 200

    real_now = timezone.now()
    make_incident(team=team, now=real_now - 40 * M, reported_at=real_now - 40 * M)
    from io import StringIO

    out = StringIO()
    call_command("sweep_breaches", stdout=out)
    assert "breaches 1" in out.getvalue() and "ESC-" in out.getvalue()
    beat = SweepHeartbeat.objects.get()
    assert (beat.source, beat.breaches, beat.escalations) == ("command", 1, 1)
    assert client.get("/healthz").status_code == 200
    assert sweep_status(now=real_now + 2 * M)["stale"] is True
    status = sweep_status(now=timezone.now())
    assert status["ok"] and status["last"]["breaches"] == 1

    out = StringIO()
    call_command("sweep_breaches", "--status", stdout=out)
    assert "examined 1" in out.getvalue()
    SweepHeartbeat.objects.update(finished_at=real_now - 5 * M)  # not an audited business field
    with pytest.raises(Exception, match="not healthy"):
        call_command("sweep_breaches", "--status", stdout=StringIO())
    assert client.get("/healthz").status_code == 503


def test_sweep_touches_only_due_rows(make_incident, now, team, oncall):
    due = make_incident(team=team, now=now - 40 * M, reported_at=now - 40 * M)
    later = make_incident(team=team)
    before = Incident.objects.get(pk=later.pk).history.count()
    result = _sweep(now)
    assert result.examined == 1 and Breach.objects.filter(incident=due).exists()
    assert Incident.objects.get(pk=later.pk).history.count() == before


def test_sweep_raises_cases_idle_past_a_no_progress_rule(make_incident, now):
    from escalations.models import TriggerRule
    from escalations.services.sweep import sweep_run

    TriggerRule.objects.create(name="Idle for 2 hours", kind="no_progress", threshold=120, severity="S1")
    idle = make_incident()  # S2
    assert sweep_run(now=now + timedelta(minutes=119), source="test").severity_raises == 0
    result = sweep_run(now=now + timedelta(minutes=121), source="test")
    assert result.severity_raises == 1
    idle.refresh_from_db()
    assert (idle.severity, idle.severity_source, idle.severity_reason) == ("S1", "trigger", "S1: Idle for 2 hours")
    # Under S1's targets from the original start the case is long overdue: the next
    # sweep breaches and escalates it.
    assert idle.next_check_at <= now + timedelta(minutes=121)
    assert sweep_run(now=now + timedelta(minutes=122), source="test").breaches >= 1
