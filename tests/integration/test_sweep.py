"""The breach sweep on the real database: what it records, whom it escalates to, how far
the chain climbs (one rung per breach or per unanswered wait, one per sweep, never to an
executive), what it never does (paused, acknowledged, resolved, drills), and that it
does everything once."""

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
from escalations.services.common import system_user
from escalations.services.engine import sweep as sweep_module
from escalations.services.engine.health import sweep_status
from escalations.services.engine.sweep import sweep_run
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


def _levels(incident):
    return list(Escalation.objects.filter(incident=incident).order_by("level").values_list("level", flat=True))


def test_a_late_acknowledge_reaches_rung_one_only_and_stays_there(make_incident, now, team, oncall, agent):
    # S1: acknowledge within 5 min, a customer update every 30 min; chain L1 Duty Manager,
    # L2 Commander (+5), L3 Fix Lead (+10), L4 Manager (+15), L5 Executive (+30).
    incident = make_incident(team=team, data_risk=True)
    assert incident.severity == "S1"
    result = _sweep(now + 5 * M)
    assert (result.breaches, result.escalations) == (1, 1)
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.next_escalation_at == now + 10 * M
    assert incident.next_check_at == now + 10 * M  # the rung's wait is the next thing to watch

    # One minute late, the Duty Manager the rung paged acknowledges the case.
    incident_acknowledge(incident=incident, actor=oncall["dm"], now=now + 6 * M)
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.next_escalation_at is None
    rung = Escalation.objects.get(incident=incident)
    assert (rung.acknowledged_at, rung.acknowledged_by) == (now + 6 * M, oncall["dm"])
    assert rung.history.latest().history_user == oncall["dm"]
    answered = CaseEvent.objects.get(incident=incident, kind=EventKind.ESCALATION_ACKNOWLEDGED)
    assert answered.actor == oncall["dm"] and answered.new == {"level": 1, "wait_stopped": True}

    # Every customer update on time: no new breach, so the chain stays at the first rung
    # (the old climb reached the executive rung at about 66 minutes).
    for minutes in (20, 45, 70, 95):
        customer_update_post(incident=incident, body="Still on it", channel=None, actor=agent, now=now + minutes * M)
    for minutes in (11, 21, 36, 66, 100, 119):
        assert _sweep(now + minutes * M).escalations == 0, minutes
    assert _levels(incident) == [1]
    assert Breach.objects.filter(incident=incident).count() == 1
    paged = set(
        Notification.objects.filter(incident=incident, escalation__isnull=False).values_list("recipient", flat=True)
    )
    assert paged - {None} == {oncall["dm"].pk}


def test_an_unacknowledged_rung_climbs_one_rung_after_the_next_rungs_wait(make_incident, now, team, oncall):
    incident = make_incident(team=team, data_risk=True)  # S1
    _sweep(now + 5 * M)
    assert _sweep(now + 10 * M - timedelta(seconds=1)).escalations == 0
    result = _sweep(now + 10 * M)
    assert (result.escalations, result.breaches) == (1, 0)
    second = Escalation.objects.get(incident=incident, level=2)
    assert second.breach is None and second.step.target == ChainTarget.COMMANDER
    assert second.reason == "Nobody acknowledged level 1 within 5m 00s"
    assert [n["user"] for n in second.notified if n["channel"] == "in_app"] == [oncall["commander"].pk]
    page = Notification.objects.get(escalation=second, channel=NotificationChannel.IN_APP)
    assert "Acknowledge within 10m 00s, or it goes to level 3 (Eng Fix Lead (stage DRI))." in page.payload["text"]
    incident.refresh_from_db()
    # The new rung's own wait (level 3's: 10 minutes) starts; one rung per sweep.
    assert incident.escalation_level == 2 and incident.next_escalation_at == now + 20 * M
    assert _sweep(now + 19 * M).escalations == 0
    assert _sweep(now + 20 * M).escalations == 1
    assert _levels(incident) == [1, 2, 3]


def test_a_rung_acknowledged_from_the_inbox_waits_for_a_new_breach_to_climb(
    make_incident, now, team, oncall, agent, client
):
    incident = make_incident(team=team)  # S2: a customer update every 60 minutes
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    _sweep(now + 60 * M)  # the first update is late: level 1, the Duty Manager
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.next_escalation_at == now + 90 * M
    page = Notification.objects.get(
        incident=incident, recipient=oncall["dm"], channel=NotificationChannel.IN_APP, escalation__level=1
    )
    # The case is acknowledged already, so the page links to the inbox, where it is answered.
    assert page.payload["links"]["acknowledge"].endswith("/pages/")
    client.force_login(oncall["dm"])
    assert client.post(f"/pages/{page.pk}/acknowledge/").status_code == 302
    incident.refresh_from_db()
    assert incident.next_escalation_at is None
    assert _sweep(now + 90 * M).escalations == 0
    assert _sweep(now + 150 * M).escalations == 0

    # A new breach climbs exactly one more rung, and its own wait starts.
    customer_update_post(incident=incident, body="Fix deploying", channel=None, actor=agent, now=now + 151 * M)
    result = _sweep(now + 211 * M)
    assert (result.breaches, result.escalations) == (1, 1)
    second = Escalation.objects.get(incident=incident, level=2)
    assert second.breach == Breach.objects.get(incident=incident, kind=ClockKind.UPDATE, cycle=2)
    assert second.step.target == ChainTarget.COMMANDER
    incident.refresh_from_db()
    assert incident.next_escalation_at == now + 211 * M + 60 * M  # level 3 waits an hour on S2


def test_breaches_found_in_one_sweep_climb_one_rung_naming_them_all(make_incident, now, team, oncall):
    incident = make_incident(team=team, data_risk=True)  # S1: ack 5 min, update 30 min, resolve 2 h
    result = _sweep(now + 121 * M)  # the sweep was down for two hours
    assert (result.breaches, result.escalations) == (3, 1)
    [rung] = Escalation.objects.filter(incident=incident)
    assert rung.level == 1 and rung.step.target == ChainTarget.DUTY_MANAGER
    first = Breach.objects.get(incident=incident, kind=ClockKind.ACK)
    assert rung.breach == first
    assert rung.reason.startswith("3 breaches: ")
    for label in ("Acknowledge target breached", "Customer update target breached", "Resolve target breached"):
        assert label in rung.reason
    event = CaseEvent.objects.get(incident=incident, kind=EventKind.ESCALATED)
    assert sorted(map(tuple, event.new["breaches"])) == [("ack", 1), ("resolve", 1), ("update", 1)]
    incident.refresh_from_db()
    assert incident.escalation_level == 1 and incident.next_escalation_at == now + 126 * M


def test_breaches_of_a_clock_and_a_handoff_in_one_sweep_climb_one_rung(
    make_incident, now, agent, other_agent, team, oncall
):
    incident = make_incident(team=team)  # S2: acknowledge within 30 min
    handoff_offer(
        incident=incident, actor=agent, now=now + M, to_stage=Stage.TRIAGE, to_user=other_agent,
        summary="Checkout down", customer_impact="EU orders fail", next_steps="Check the gateway",
    )  # fmt: skip
    result = _sweep(now + 31 * M)  # the handoff's 15-minute time box and the ack target, both past
    assert (result.breaches, result.handoff_breaches, result.escalations) == (2, 1, 1)
    [rung] = Escalation.objects.filter(incident=incident)
    assert rung.reason.startswith("2 breaches: ") and "not accepted in time" in rung.reason
    assert _sweep(now + 32 * M).escalations == 0


def test_the_chain_never_reaches_an_executive_rung_by_timer_or_breach(make_incident, now, team, oncall):
    from tests.engine_support import shift

    executive = UserFactory(username="eve_exec")
    shift(executive, team, "executive", now, hours=48)
    assert SeverityPolicy.objects.get(key="S1").allows_executive_escalation  # its chain's level 5
    incident = make_incident(team=team, data_risk=True)  # S1, never acknowledged
    for minutes in (5, 10, 20, 35, 66, 100):
        _sweep(now + minutes * M)
    assert _levels(incident) == [1, 2, 3, 4]
    incident.refresh_from_db()
    # Level 4 (Manager) is the top a timer may reach: no wait runs towards the executive.
    assert incident.escalation_level == 4 and incident.next_escalation_at is None
    # A new breach at the top tells the Manager's rung again and climbs no further.
    result = _sweep(now + 121 * M)
    assert (result.breaches, result.escalations) == (1, 0)
    note = CaseEvent.objects.filter(incident=incident, kind=EventKind.NOTE).latest("id")
    assert note.detail.startswith("Top of the escalation chain already reached")
    assert Notification.objects.filter(
        incident=incident, recipient=oncall["manager"], idempotency_key__startswith="breach:"
    ).exists()
    assert not Escalation.objects.filter(is_executive=True).exists()
    assert not Notification.objects.filter(recipient=executive).exists()


def test_a_paused_case_never_climbs_on_its_wait(make_incident, now, agent, team, oncall):
    incident = make_incident(team=team)
    incident_acknowledge(incident=incident, actor=agent, now=now + M)
    _sweep(now + 60 * M)  # update late: level 1, unanswered, level 2 due at +90
    incident_pause(incident=incident, reason="customer", note="Waiting for logs", actor=agent, now=now + 61 * M)
    incident.refresh_from_db()
    assert incident.next_escalation_at == now + 90 * M and incident.next_check_at is None
    assert _sweep(now + 600 * M).escalations == 0
    assert _levels(incident) == [1]


def test_a_severity_change_moves_the_wait_of_an_unanswered_rung_only(make_incident, now, agent, team, oncall):
    from escalations.services import incident_change_severity

    answered, unanswered = make_incident(team=team, title="Answered"), make_incident(team=team, title="Open")
    for case in (answered, unanswered):
        incident_acknowledge(incident=case, actor=agent, now=now + M)
    _sweep(now + 60 * M)  # both: update late, level 1
    answered = incident_acknowledge_rung(answered, oncall["dm"], now + 61 * M)
    for case in (answered, unanswered):
        incident_change_severity(incident=case.pk, severity="S1", reason="Data at risk", actor=agent, now=now + 62 * M)
    answered.refresh_from_db()
    unanswered.refresh_from_db()
    assert answered.next_escalation_at is None
    assert unanswered.next_escalation_at == now + 65 * M  # paged at +60, S1's level 2 waits 5 minutes


def incident_acknowledge_rung(incident, person, at):
    from escalations.services.engine.chain import pages_acknowledge

    page = Notification.objects.get(incident=incident, recipient=person, channel="in_app", escalation__isnull=False)
    pages_acknowledge(user=person, now=at, page=page.pk)
    incident.refresh_from_db()
    return incident


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


def test_an_executive_rung_a_policy_does_not_allow_is_never_paged(make_incident, now, team, oncall):
    from tests.engine_support import shift

    executive = UserFactory(username="eve_exec")
    shift(executive, team, "executive", now, hours=48)
    # S2 does not allow executive escalation even if someone adds an executive rung.
    s2 = SeverityPolicy.objects.get(key="S2")
    EscalationStep.objects.create(policy=s2, level=5, target=ChainTarget.EXECUTIVE, wait=timedelta(0))
    incident = make_incident(team=team)
    for minutes in (31, 61, 121, 181, 241, 301, 400, 500):
        _sweep(now + minutes * M)
    assert _levels(incident) == [1, 2, 3, 4]
    assert not Escalation.objects.filter(incident=incident, is_executive=True).exists()
    assert not Notification.objects.filter(recipient=executive).exists()


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
    from escalations.services.engine.sweep import sweep_run

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
