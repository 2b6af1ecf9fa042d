"""The escape valves under governance on the real database: executive escalation
(immediate on an objective trigger, otherwise a Manager's approval) and service credits
(eligibility from the breach records, a Manager's decision, weekly totals) — each rule,
each role, each refusal leaving the database as it was."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from escalations.choices import EventKind, NotificationChannel, ValveStatus
from escalations.models import (
    Breach,
    CaseEvent,
    Escalation,
    ExecutiveEscalationRequest,
    Notification,
    ServiceCreditBreach,
    ServiceCreditRequest,
    ServiceCreditRule,
)
from escalations.selectors.valves import service_credit_eligibility, service_credits_totals
from escalations.services import (
    NotAllowed,
    RuleViolation,
    ServiceError,
    customer_update_post,
    incident_acknowledge,
    incident_pause,
    incident_resume,
)
from escalations.services.engine.sweep import sweep_run
from escalations.services.valves import (
    executive_escalation_decide,
    executive_escalation_request,
    service_credit_decide,
    service_credit_request,
)
from tests.engine_support import shift
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
H = timedelta(hours=1)
ROLES = ("agent", "engineer", "duty_manager", "manager", "policy_admin")
MAY_ASK = {"agent", "engineer", "duty_manager", "manager"}
MAY_DECIDE = {"manager"}


@pytest.fixture
def executive(db, team, now):
    person = UserFactory(username="eve_exec")
    shift(person, team, "executive", now, hours=48)
    return person


@pytest.fixture
def case_team(team, engineer):
    # The engineer works the team's cases too, so the matrix tests the role, not access.
    team.members.add(engineer)
    return team


@pytest.fixture
def s1_by_trigger(make_incident, case_team, executive):
    """An S1 whose objective trigger (data risk) holds."""
    return make_incident(team=case_team, data_risk=True)


@pytest.fixture
def s1_by_hand(make_incident, case_team, executive):
    """An S1 raised by a person: only the S2 ARR trigger holds, which is not the S1 policy's."""
    return make_incident(team=case_team, severity="S1", severity_reason="Customer's CEO on the phone")


def _state():
    """What a refused change must leave as it was."""
    return (
        ExecutiveEscalationRequest.objects.count(),
        ServiceCreditRequest.objects.count(),
        ServiceCreditBreach.objects.count(),
        Escalation.objects.count(),
        Notification.objects.count(),
        CaseEvent.objects.count(),
        ExecutiveEscalationRequest.history.count(),
        ServiceCreditRequest.history.count(),
    )


# --- Executive escalation: who may ask, who may decide -------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_who_may_ask_for_an_executive(role, personas, s1_by_hand, now):
    actor = personas[role]
    before = _state()
    if role in MAY_ASK:
        made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=actor, now=now)
        assert made.status == ValveStatus.PENDING and made.requested_by == actor
    else:
        with pytest.raises(NotAllowed):
            executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=actor, now=now)
        assert _state() == before


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
@pytest.mark.parametrize("role", ROLES)
def test_only_a_manager_approves_or_denies(role, approve, personas, agent, s1_by_hand, now):
    pending = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    before = _state()
    actor = personas[role]
    if role in MAY_DECIDE:
        decided = executive_escalation_decide(request=pending, approve=approve, reason="Seen", actor=actor, now=now + M)
        assert decided.status == (ValveStatus.APPROVED if approve else ValveStatus.DENIED)
    else:
        with pytest.raises(NotAllowed) as refused:
            executive_escalation_decide(request=pending, approve=approve, reason="Seen", actor=actor, now=now + M)
        assert refused.value.code == "not_a_manager"
        assert _state() == before
        pending.refresh_from_db()
        assert pending.status == ValveStatus.PENDING


# --- Executive escalation: the two paths ----------------------------------------------------


def test_an_objective_trigger_makes_the_escalation_immediate(s1_by_trigger, agent, manager, executive, now):
    made = executive_escalation_request(incident=s1_by_trigger, reason="Data leak confirmed", actor=agent, now=now)
    assert made.status == ValveStatus.TRIGGERED and made.trigger == "Data risk"
    assert made.decided_at == now and made.decided_by is None
    rung = made.escalation
    assert (rung.level, rung.is_executive, rung.actor) == (5, True, agent)
    assert [n["user"] for n in rung.notified if n["channel"] == "in_app"] == [executive.pk]
    s1_by_trigger.refresh_from_db()
    assert s1_by_trigger.escalation_level == 5
    page = Notification.objects.get(escalation=rung, recipient=executive, channel=NotificationChannel.IN_APP)
    assert "Executive escalation (objective trigger: Data risk): Data leak confirmed" in page.payload["text"]
    kinds = list(CaseEvent.objects.filter(incident=s1_by_trigger).values_list("kind", flat=True))
    assert EventKind.ESCALATED in kinds and EventKind.EXECUTIVE_REQUESTED in kinds
    asked = CaseEvent.objects.get(incident=s1_by_trigger, kind=EventKind.EXECUTIVE_REQUESTED)
    assert asked.actor == agent and "Immediate: the objective trigger “Data risk” holds" in asked.detail
    # Nothing waits for a Manager.
    assert not Notification.objects.filter(recipient=manager, payload__kind="approval").exists()


def test_without_a_trigger_it_waits_for_a_manager_who_approves(s1_by_hand, agent, manager, executive, now):
    made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    assert made.status == ValveStatus.PENDING and made.escalation is None
    s1_by_hand.refresh_from_db()
    assert s1_by_hand.escalation_level == 0
    assert not Notification.objects.filter(recipient=executive).exists()
    ask = Notification.objects.get(recipient=manager, channel=NotificationChannel.IN_APP, payload__kind="approval")
    assert "asks to escalate" in ask.payload["text"] and ask.payload["links"]["approvals"].endswith(
        "/manage/approvals/"
    )
    assert Notification.objects.filter(recipient=manager, channel=NotificationChannel.EMAIL).exists()

    decided = executive_escalation_decide(
        request=made.pk, approve=True, reason="Renewal at stake", actor=manager, now=now + 5 * M
    )
    assert (decided.status, decided.decided_by, decided.decided_at) == (ValveStatus.APPROVED, manager, now + 5 * M)
    assert decided.decision_reason == "Renewal at stake"
    rung = decided.escalation
    assert rung.is_executive and rung.level == 5 and rung.actor == manager
    assert Notification.objects.filter(escalation=rung, recipient=executive).exists()
    s1_by_hand.refresh_from_db()
    assert s1_by_hand.escalation_level == 5
    told = Notification.objects.get(recipient=agent, channel=NotificationChannel.IN_APP, payload__kind="decision")
    assert "approved your executive escalation" in told.payload["text"]
    assert "approvals" not in told.payload["links"]  # the requester cannot open that page
    # Audited with the actor of each step, and both on the timeline.
    history = list(made.history.order_by("history_date", "history_id"))
    assert [(h.status, h.history_user) for h in history] == [
        (ValveStatus.PENDING, agent),
        (ValveStatus.APPROVED, manager),
    ]
    decided_event = CaseEvent.objects.get(incident=s1_by_hand, kind=EventKind.EXECUTIVE_DECIDED)
    assert decided_event.actor == manager and decided_event.detail == "Executive escalation approved: Renewal at stake"


def test_a_denied_request_leaves_the_chain_where_it_is(s1_by_hand, agent, manager, executive, now):
    made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    decided = executive_escalation_decide(request=made, approve=False, reason="The IC has it", actor=manager, now=now)
    assert decided.status == ValveStatus.DENIED and decided.escalation is None
    s1_by_hand.refresh_from_db()
    assert s1_by_hand.escalation_level == 0
    assert not Escalation.objects.filter(is_executive=True).exists()
    assert not Notification.objects.filter(recipient=executive).exists()
    told = Notification.objects.get(recipient=agent, channel=NotificationChannel.IN_APP, payload__kind="decision")
    assert "denied your executive escalation" in told.payload["text"] and "The IC has it" in told.payload["text"]
    event = CaseEvent.objects.get(incident=s1_by_hand, kind=EventKind.EXECUTIVE_DECIDED)
    assert event.detail == "Executive escalation denied: The IC has it"
    # A new request may follow a decided one.
    again = executive_escalation_request(incident=s1_by_hand, reason="Now on the news", actor=agent, now=now + H)
    assert again.status == ValveStatus.PENDING


# --- Executive escalation: bad input ---------------------------------------------------------


def _refused(call, *, field, code=None):
    before = _state()
    with pytest.raises(ServiceError) as refused:
        call()
    assert refused.value.field == field, refused.value.message
    if code:
        assert refused.value.code == code
    assert _state() == before
    return refused.value


def test_bad_requests_change_nothing(s1_by_hand, make_incident, agent, other_agent, manager, now):
    _refused(
        lambda: executive_escalation_request(incident=s1_by_hand, reason="  ", actor=agent, now=now), field="reason"
    )
    executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    second = _refused(
        lambda: executive_escalation_request(incident=s1_by_hand, reason="Me too", actor=other_agent, now=now),
        field="reason",
        code="already_pending",
    )
    assert "Alice_Agent already asked" in second.message
    s2 = make_incident(team=s1_by_hand.team)  # the S2 policy has no executive rung
    _refused(
        lambda: executive_escalation_request(incident=s2, reason="Please", actor=agent, now=now),
        field="severity",
        code="no_executive_rung",
    )


def test_bad_decisions_change_nothing(s1_by_hand, agent, manager, now):
    made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    _refused(
        lambda: executive_escalation_decide(request=made, approve=True, reason="", actor=manager, now=now),
        field="decision_reason",
    )
    executive_escalation_decide(request=made, approve=False, reason="No", actor=manager, now=now)
    _refused(
        lambda: executive_escalation_decide(request=made, approve=True, reason="Yes after all", actor=manager, now=now),
        field="status",
        code="already_decided",
    )


def test_the_database_holds_the_request_states(s1_by_hand, agent, manager, now):
    executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    with pytest.raises(IntegrityError), transaction.atomic():  # a second pending request
        ExecutiveEscalationRequest.objects.create(
            incident=s1_by_hand, reason="Again", requested_by=agent, requested_at=now
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # approved by nobody
        ExecutiveEscalationRequest.objects.create(
            incident=s1_by_hand, reason="x", requested_by=agent, requested_at=now, status=ValveStatus.APPROVED
        )
    with pytest.raises(IntegrityError), transaction.atomic():  # denied without a reason
        ExecutiveEscalationRequest.objects.create(
            incident=s1_by_hand, reason="x", requested_by=agent, requested_at=now, status=ValveStatus.DENIED,
            decided_by=manager, decided_at=now,
        )  # fmt: skip


# --- Executive escalation: the web doors ------------------------------------------------------


def test_the_case_page_asks_for_an_executive(client, s1_by_hand, agent, manager, now):
    client.force_login(agent)
    url = reverse("escalations:case-detail", args=[s1_by_hand.pk])
    page = client.get(url).content.decode()
    assert 'id="action-executive"' in page
    ask = reverse("escalations:case-executive", args=[s1_by_hand.pk])
    refused = client.post(ask, {"reason": ""})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Why an executive is needed" in body and "Say why an executive is needed." in body
    assert not ExecutiveEscalationRequest.objects.exists()
    assert client.post(ask, {"reason": "Board <b>level</b>"}).status_code == 302
    page = client.get(url).content.decode()
    assert "Waiting for a Manager" in page and "Board &lt;b&gt;level&lt;/b&gt;" in page
    assert 'id="action-executive"' not in page  # one pending request per case
    assert "Executive escalation requested" in page  # on the timeline


@pytest.mark.parametrize("role,status", [("agent", 302), ("policy_admin", 403)])
def test_the_case_page_door_checks_the_role(client, personas, s1_by_hand, role, status):
    client.force_login(personas[role])
    response = client.post(reverse("escalations:case-executive", args=[s1_by_hand.pk]), {"reason": "Please"})
    assert response.status_code == status


@pytest.mark.parametrize(
    "role,status",
    [("agent", 404), ("engineer", 404), ("policy_admin", 404), ("duty_manager", 403), ("manager", 302)],
)
def test_the_approvals_door_checks_the_role(client, personas, s1_by_hand, agent, now, role, status):
    made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    client.force_login(personas[role])
    url = reverse("escalations:manage-approve-executive", args=[made.pk])
    response = client.post(url, {f"x{made.pk}-decision": "approve", f"x{made.pk}-decision_reason": "Go"})
    assert response.status_code == status
    made.refresh_from_db()
    assert made.status == (ValveStatus.APPROVED if status == 302 else ValveStatus.PENDING)


def test_the_approvals_page_shows_a_refusal_on_the_field(client, manager, s1_by_hand, agent, now):
    made = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    client.force_login(manager)
    url = reverse("escalations:manage-approve-executive", args=[made.pk])
    response = client.post(url, {f"x{made.pk}-decision": "deny", f"x{made.pk}-decision_reason": ""})
    assert response.status_code == 400
    assert "Reason: Say why you deny it." in response.content.decode()
    made.refresh_from_db()
    assert made.status == ValveStatus.PENDING


# --- Service credits ---------------------------------------------------------------------------


@pytest.fixture
def credit_rules(db):
    ServiceCreditRule.objects.create(tier="enterprise", percent_per_hour=Decimal(2), cap_percent=Decimal(10))
    ServiceCreditRule.objects.create(tier="standard", percent_per_hour=Decimal("0.5"), cap_percent=Decimal(5))


@pytest.fixture
def breached_case(make_incident, customer, case_team, agent, credit_rules, now):
    """An S2 (acknowledge within 30 min, an update every 60 min) for an enterprise customer
    paying 10,000 a month. The acknowledgement is an hour late (due +30, at +90); the
    first update falls due at +60 and is posted at +150, with the clock paused +100 to
    +130 — an hour of breached time too. 2 h × 2 %/h = 4 % = 400.00."""
    customer.monthly_fee = Decimal(10000)
    customer.save()
    case = make_incident(team=case_team)
    sweep_run(now=now + 30 * M, source="test")
    sweep_run(now=now + 60 * M, source="test")
    incident_acknowledge(incident=case, actor=agent, now=now + 90 * M)
    incident_pause(incident=case, reason="customer", note="Waiting for logs", actor=agent, now=now + 100 * M)
    incident_resume(incident=case, actor=agent, now=now + 130 * M)
    customer_update_post(incident=case, body="Fix rolling out", channel=None, actor=agent, now=now + 150 * M)
    case.refresh_from_db()
    return case


def _breach_ids(case):
    return list(Breach.objects.filter(incident=case).order_by("due_at").values_list("pk", flat=True))


def test_eligibility_from_the_breach_records(breached_case, now):
    breaches = list(Breach.objects.filter(incident=breached_case).select_related("handoff"))
    assert sorted(b.kind for b in breaches) == ["ack", "update"]
    figure = service_credit_eligibility(incident=breached_case, breaches=breaches, now=now + 3 * H)
    assert figure.breached == 2 * H
    assert (figure.percent, figure.amount, figure.capped) == (Decimal(4), Decimal("400.00"), False)
    # The acknowledge breach alone: due +30, kept at +90.
    ack = [b for b in breaches if b.kind == "ack"]
    assert service_credit_eligibility(incident=breached_case, breaches=ack, now=now + 3 * H).amount == Decimal("200.00")


def test_the_cap_and_the_tier_decide_the_amount(breached_case, customer, now):
    ServiceCreditRule.objects.filter(tier="enterprise").update(cap_percent=Decimal(3))
    breaches = list(Breach.objects.filter(incident=breached_case))
    capped = service_credit_eligibility(incident=breached_case, breaches=breaches, now=now + 3 * H)
    assert (capped.amount, capped.capped) == (Decimal("300.00"), True)
    customer.tier = "standard"
    customer.save()
    breached_case.refresh_from_db()
    standard = service_credit_eligibility(incident=breached_case, breaches=breaches, now=now + 3 * H)
    assert standard.amount == Decimal("100.00")  # 2 h × 0.5 % = 1 % of 10,000


@pytest.mark.parametrize("role", ROLES)
def test_who_may_ask_for_a_credit(role, personas, breached_case, now):
    before = _state()
    call = lambda: service_credit_request(  # noqa: E731
        incident=breached_case, breaches=_breach_ids(breached_case), amount="400", justification="Two hours down",
        actor=personas[role], now=now + 3 * H,
    )  # fmt: skip
    if role in MAY_ASK:
        assert call().status == ValveStatus.PENDING
    else:
        with pytest.raises(NotAllowed):
            call()
        assert _state() == before


@pytest.mark.parametrize("approve", [True, False], ids=["approve", "deny"])
@pytest.mark.parametrize("role", ROLES)
def test_only_a_manager_decides_a_credit(role, approve, personas, agent, breached_case, now):
    made = service_credit_request(
        incident=breached_case, breaches=_breach_ids(breached_case), amount="400", justification="Two hours down",
        actor=agent, now=now + 3 * H,
    )  # fmt: skip
    before = _state()
    if role in MAY_DECIDE:
        decided = service_credit_decide(request=made, approve=approve, reason="Checked", actor=personas[role], now=now)
        assert decided.status == (ValveStatus.APPROVED if approve else ValveStatus.DENIED)
    else:
        with pytest.raises(NotAllowed):
            service_credit_decide(request=made, approve=approve, reason="Checked", actor=personas[role], now=now)
        assert _state() == before


def test_a_credit_request_and_its_approval_are_audited_and_on_the_timeline(breached_case, agent, manager, now):
    made = service_credit_request(
        incident=breached_case, breaches=_breach_ids(breached_case), amount="350.50", justification="Two hours down",
        actor=agent, now=now + 3 * H,
    )  # fmt: skip
    assert (made.amount, made.eligible_amount, made.breached_seconds) == (Decimal("350.50"), Decimal("400.00"), 7200)
    assert set(made.breaches.values_list("pk", flat=True)) == set(_breach_ids(breached_case))
    assert ServiceCreditBreach.history.filter(history_user=agent).count() == 2
    asked = CaseEvent.objects.get(incident=breached_case, kind=EventKind.CREDIT_REQUESTED)
    assert asked.actor == agent and "350.50 USD requested for 2 breach(es)" in asked.detail
    assert Notification.objects.filter(recipient=manager, payload__kind="approval").exists()

    service_credit_decide(request=made, approve=True, reason="Contract clause 7", actor=manager, now=now + 4 * H)
    made.refresh_from_db()
    assert (made.status, made.decided_by, made.decision_reason) == (ValveStatus.APPROVED, manager, "Contract clause 7")
    assert [h.history_user for h in made.history.order_by("history_date", "history_id")] == [agent, manager]
    decided = CaseEvent.objects.get(incident=breached_case, kind=EventKind.CREDIT_DECIDED)
    assert decided.actor == manager and decided.detail == "Service credit of 350.50 USD approved: Contract clause 7"
    told = Notification.objects.get(recipient=agent, channel=NotificationChannel.IN_APP, payload__kind="decision")
    assert "approved the service credit of 350.50 USD" in told.payload["text"]


def test_bad_credit_requests_change_nothing(breached_case, make_incident, agent, manager, now):
    ids = _breach_ids(breached_case)
    at = now + 3 * H

    def ask(**overrides):
        values = {"incident": breached_case, "breaches": ids, "amount": "100", "justification": "Down", "actor": agent}
        values.update(overrides)
        return lambda: service_credit_request(now=at, **values)

    _refused(ask(justification=" "), field="justification")
    _refused(ask(amount="0"), field="amount")
    _refused(ask(amount="lots"), field="amount")
    over = _refused(ask(amount="400.01"), field="amount", code="over_eligible")
    assert "At most 400.00 USD" in over.message
    _refused(ask(breaches=[]), field="breaches")
    other = make_incident(team=breached_case.team, title="Another case")
    sweep_run(now=now + 31 * M, source="test")
    _refused(ask(breaches=[Breach.objects.filter(incident=other).first().pk]), field="breaches")
    made = ask()()
    _refused(ask(breaches=ids[:1]), field="breaches", code="already_claimed")
    # A denied request frees its breaches; a decided one cannot be decided again.
    service_credit_decide(request=made, approve=False, reason="Not in contract", actor=manager, now=at)
    _refused(
        lambda: service_credit_decide(request=made, approve=True, reason="Yes", actor=manager, now=at),
        field="status",
        code="already_decided",
    )
    assert ask(breaches=ids[:1])().status == ValveStatus.PENDING


def test_no_rule_for_the_tier_earns_no_credit(breached_case, customer, agent, now):
    ServiceCreditRule.objects.all().delete()
    _refused(
        lambda: service_credit_request(
            incident=breached_case,
            breaches=_breach_ids(breached_case),
            amount="1",
            justification="Down",
            actor=agent,
            now=now + 3 * H,
        ),  # fmt: skip
        field="breaches",
        code="not_eligible",
    )


def test_the_case_page_requests_a_credit(client, breached_case, agent, now):
    client.force_login(agent)
    page = client.get(reverse("escalations:case-detail", args=[breached_case.pk])).content.decode()
    assert 'id="action-credit"' in page and "Enterprise tier" in page
    url = reverse("escalations:case-credit", args=[breached_case.pk])
    ids = _breach_ids(breached_case)
    refused = client.post(url, {"breaches": ids, "amount": "100000", "justification": "Down"})
    assert refused.status_code == 400 and "Amount (USD): At most" in refused.content.decode()
    assert not ServiceCreditRequest.objects.exists()
    assert client.post(url, {"breaches": ids, "amount": "120", "justification": "Down"}).status_code == 302
    page = client.get(reverse("escalations:case-detail", args=[breached_case.pk])).content.decode()
    assert "120.00 USD · Waiting for a Manager" in page and "Service credit requested" in page


def test_weekly_totals_of_requested_and_approved_credits(
    breached_case, make_incident, agent, manager, duty_manager, now
):
    # Week of Monday 16 Nov: 400.00 asked (Fri 20th) and approved (Sat 21st).
    first = service_credit_request(
        incident=breached_case, breaches=_breach_ids(breached_case), amount="400", justification="Down",
        actor=agent, now=now + 3 * H,
    )  # fmt: skip
    service_credit_decide(request=first, approve=True, reason="OK", actor=manager, now=now + 1 * timedelta(days=1))
    # Week of Monday 23 Nov: 150.00 asked (Tue 24th) and denied; a drill's request never counts.
    later = now + timedelta(days=4)
    second = make_incident(team=breached_case.team, title="Second", now=later)
    drill = make_incident(team=breached_case.team, title="Drill", now=later, is_drill=True, actor=duty_manager)
    sweep_run(now=later + 2 * H, source="test")
    second_req = service_credit_request(
        incident=second, breaches=_breach_ids(second), amount="150", justification="Down", actor=agent,
        now=later + 2 * H,
    )  # fmt: skip
    service_credit_decide(request=second_req, approve=False, reason="No", actor=manager, now=later + 3 * H)
    assert Breach.objects.filter(incident=drill).exists()
    with pytest.raises(RuleViolation):
        service_credit_request(
            incident=drill, breaches=_breach_ids(drill), amount="1", justification="Practice", actor=agent,
            now=later + 2 * H,
        )  # fmt: skip

    weeks = service_credits_totals(datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    assert [(w.week, w.requested_count, w.requested_amount, w.approved_count, w.approved_amount) for w in weeks] == [
        (date(2026, 11, 16), 1, Decimal("400.00"), 1, Decimal("400.00")),
        (date(2026, 11, 23), 1, Decimal("150.00"), 0, Decimal("0.00")),
    ]
    assert [w.week for w in service_credits_totals(datetime(2026, 11, 9, tzinfo=UTC), now)] == [
        date(2026, 11, 9),
        date(2026, 11, 16),
    ]


# --- The approvals page ----------------------------------------------------------------------


def _pending_requests(make_incident, team, agent, now, count, start):
    for i in range(count):
        case = make_incident(team=team, title=f"Case {start + i}", severity="S1", severity_reason="By hand")
        executive_escalation_request(incident=case, reason=f"Reason {start + i}", actor=agent, now=now)
        sweep_run(now=now + 31 * M + i * timedelta(seconds=1), source="test")
        service_credit_request(
            incident=case, breaches=_breach_ids(case), amount="10", justification=f"Credit {start + i}", actor=agent,
            now=now + H,
        )  # fmt: skip


def test_the_approvals_page_lists_what_waits_in_constant_queries(
    client, manager, make_incident, case_team, executive, agent, customer, credit_rules, now,
    django_assert_num_queries,
):  # fmt: skip
    customer.monthly_fee = Decimal(10000)
    customer.save()
    client.force_login(manager)
    url = reverse("escalations:manage-approvals")
    _pending_requests(make_incident, case_team, agent, now, 1, 0)
    with CaptureQueriesContext(connection) as few:
        body = client.get(url).content.decode()
    assert "Reason 0" in body and "Credit 0" in body and "Approve and page the executive" in body
    _pending_requests(make_incident, case_team, agent, now + 3 * H, 3, 1)
    with django_assert_num_queries(len(few)):
        body = client.get(url).content.decode()
    assert all(f"Reason {i}" in body and f"Credit {i}" in body for i in range(4))
    assert len(few) == APPROVALS_PAGE_QUERIES


# Session, user, permissions (two), the two lists and the credits' breaches.
APPROVALS_PAGE_QUERIES = 7


def test_a_duty_manager_sees_the_approvals_page_without_forms(client, duty_manager, s1_by_hand, agent, now):
    executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=agent, now=now)
    client.force_login(duty_manager)
    body = client.get(reverse("escalations:manage-approvals")).content.decode()
    assert "Board-level customer" in body and "Only a Manager may approve or deny them." in body
    assert "Approve and page the executive" not in body


def test_a_manager_approves_a_credit_from_the_approvals_page(client, manager, breached_case, agent, now):
    made = service_credit_request(
        incident=breached_case, breaches=_breach_ids(breached_case), amount="400", justification="Two hours down",
        actor=agent, now=now + 3 * H,
    )  # fmt: skip
    client.force_login(manager)
    url = reverse("escalations:manage-approve-credit", args=[made.pk])
    response = client.post(url, {f"c{made.pk}-decision": "approve", f"c{made.pk}-decision_reason": "Clause 7"})
    assert response.status_code == 302
    made.refresh_from_db()
    assert (made.status, made.decided_by, made.decision_reason) == (ValveStatus.APPROVED, manager, "Clause 7")
    body = client.get(reverse("escalations:manage-approvals")).content.decode()
    assert "Two hours down" not in body  # no longer waiting
    assert client.post(reverse("escalations:manage-approve-credit", args=[made.pk + 1000]), {}).status_code == 404


# --- Four eyes: nobody decides their own request ----------------------------------------------


def test_a_manager_never_decides_their_own_executive_request(s1_by_hand, manager, executive, now):
    second = UserFactory(username="max_manager", roles=["Managers"])
    pending = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=manager, now=now)
    assert pending.status == ValveStatus.PENDING
    # The other Manager is asked, not the requester.
    asked = set(
        Notification.objects.filter(subject__startswith="Approval needed").values_list("recipient__username", flat=True)
    )
    assert asked == {"max_manager"}
    before = _state()
    with pytest.raises(NotAllowed) as refused:
        executive_escalation_decide(request=pending, approve=True, reason="Mine", actor=manager, now=now + M)
    assert refused.value.code == "own_request" and refused.value.field == "decision_reason"
    assert _state() == before
    s1_by_hand.refresh_from_db()
    assert s1_by_hand.escalation_level < 5
    decided = executive_escalation_decide(request=pending, approve=True, reason="Seen", actor=second, now=now + M)
    assert decided.status == ValveStatus.APPROVED and decided.decided_by == second


def test_a_manager_never_decides_their_own_credit_request(breached_case, manager, now):
    second = UserFactory(username="max_manager", roles=["Managers"])
    pending = service_credit_request(
        incident=breached_case, breaches=_breach_ids(breached_case), amount="100.00",
        justification="Late acknowledgement", actor=manager, now=now + 3 * H,
    )  # fmt: skip
    before = _state()
    with pytest.raises(NotAllowed) as refused:
        service_credit_decide(request=pending, approve=True, reason="Mine", actor=manager, now=now + 3 * H)
    assert refused.value.code == "own_request"
    assert _state() == before
    assert service_credit_decide(request=pending, approve=False, reason="No", actor=second, now=now + 3 * H).status == (
        ValveStatus.DENIED
    )


def test_the_only_manager_waits_for_a_superuser_and_the_request_says_so(s1_by_hand, manager, now):
    root = UserFactory(username="root_admin", is_superuser=True, is_staff=True)
    pending = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=manager, now=now)
    asked = set(
        Notification.objects.filter(subject__startswith="Approval needed").values_list("recipient__username", flat=True)
    )
    assert asked == {"root_admin"}
    with pytest.raises(NotAllowed):
        executive_escalation_decide(request=pending, approve=True, reason="Mine", actor=manager, now=now + M)
    assert executive_escalation_decide(request=pending, approve=True, reason="Ok", actor=root, now=now + M).status == (
        ValveStatus.APPROVED
    )


def test_with_nobody_else_to_decide_the_timeline_says_it_waits(s1_by_hand, manager, now):
    executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=manager, now=now)
    event = CaseEvent.objects.get(incident=s1_by_hand, kind=EventKind.EXECUTIVE_REQUESTED)
    assert "no other Manager can approve it yet" in event.detail
    assert not Notification.objects.filter(subject__startswith="Approval needed").exists()


def test_the_approvals_page_offers_no_buttons_on_your_own_request(client, s1_by_hand, manager, agent, now):
    UserFactory(username="max_manager", roles=["Managers"])
    mine = executive_escalation_request(incident=s1_by_hand, reason="Board-level customer", actor=manager, now=now)
    client.force_login(manager)
    page = client.get(reverse("escalations:manage-approvals")).content.decode()
    row = page[page.index(f'id="executive-{mine.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "another Manager decides it" in row and "<form" not in row
    refused = client.post(
        reverse("escalations:manage-approve-executive", args=[mine.pk]),
        {f"x{mine.pk}-decision": "approve", f"x{mine.pk}-decision_reason": "Mine"},
    )
    assert refused.status_code == 403 and "another Manager decides it" in refused.content.decode()
    assert ExecutiveEscalationRequest.objects.get(pk=mine.pk).status == ValveStatus.PENDING


# --- The credit cap holds per case and billing month, across requests --------------------------


def test_the_cap_is_per_case_and_month_across_requests(breached_case, agent, now):
    """Two breaches asked for one at a time: together at most the tier's cap (3 % here)."""
    ServiceCreditRule.objects.filter(tier="enterprise").update(cap_percent=Decimal(3))
    ack, update = _breach_ids(breached_case)
    at = now + 3 * H
    first = service_credit_request(
        incident=breached_case, breaches=[ack], amount="200.00", justification="Ack late", actor=agent, now=at
    )
    assert first.eligible_amount == Decimal("200.00")
    figure = service_credit_eligibility(incident=breached_case, breaches=list(Breach.objects.filter(pk=update)), now=at)
    assert (figure.amount, figure.capped) == (Decimal("100.00"), True)  # 300 cap − 200 asked
    before = _state()
    with pytest.raises(RuleViolation) as over:
        service_credit_request(
            incident=breached_case, breaches=[update], amount="200.00", justification="Update late", actor=agent, now=at
        )
    assert over.value.code == "over_eligible" and "100.00" in over.value.message
    assert _state() == before
    second = service_credit_request(
        incident=breached_case, breaches=[update], amount="100.00", justification="Update late", actor=agent, now=at
    )
    total = sum(r.amount for r in ServiceCreditRequest.objects.filter(incident=breached_case))
    assert second.amount == Decimal("100.00") and total == Decimal("300.00")


def test_a_denied_request_frees_the_month_and_a_new_month_has_its_own_cap(breached_case, agent, manager, now):
    ServiceCreditRule.objects.filter(tier="enterprise").update(cap_percent=Decimal(2))  # 200.00 a month
    ack, update = _breach_ids(breached_case)
    at = now + 3 * H
    first = service_credit_request(
        incident=breached_case, breaches=[ack], amount="200.00", justification="All of it", actor=agent, now=at
    )
    before = _state()
    with pytest.raises(RuleViolation) as full:
        service_credit_request(
            incident=breached_case, breaches=[update], amount="1.00", justification="More", actor=agent, now=at
        )
    assert full.value.code == "month_cap_reached" and _state() == before
    service_credit_decide(request=first, approve=False, reason="Too much", actor=manager, now=at)
    again = service_credit_request(
        incident=breached_case, breaches=[update], amount="100.00", justification="Update late", actor=agent, now=at
    )
    assert again.status == ValveStatus.PENDING
    # T0 is 20 November: December is a new billing month with its own cap.
    december = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    ack_only = list(Breach.objects.filter(pk=ack))
    assert service_credit_eligibility(incident=breached_case, breaches=ack_only, now=december).amount == Decimal(
        "200.00"
    )
