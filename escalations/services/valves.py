"""The escape valves under governance: executive escalation and service credits.

Executive escalation. Anyone who may work a case asks for it with a reason
(``executive_escalation_request``). When one of the policy's objective triggers holds for
the case now (``sla.triggers.executive_trigger``) the case goes to the executive rung of
its chain at once and that rung is paged; otherwise the request waits for a Manager
(``approve_escalation``), who approves — the case is escalated the same way — or denies
it, with a reason (``executive_escalation_decide``). The executive rung is never reached
otherwise (the sweep's climb stops below it: ``sla.sweep.climb_to``).

Service credits. The credit a case's breaches earn is computed by
``sla.credits.credit_figure`` from the breach records, the case's clock facts and the
customer's tier (``ServiceCreditRule``); a request names its breaches, an amount no
larger than that and a justification (``service_credit_request``); a Manager approves or
denies it with a reason (``service_credit_decide``). ``service_credits_totals`` sums
them per week for the review.

Every request and decision is audited (history rows with the actor), is on the case's
timeline, and notifies the Managers (a request waiting for them) or the requester (the
decision). Every check runs here, so every door (web, API, admin) gets the same rules."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction

from escalations.choices import EventKind, NotificationChannel, ValveStatus
from escalations.display import person_name
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation
from escalations.lib.text import duration_text
from escalations.models import (
    Breach,
    Escalation,
    EscalationStep,
    ExecutiveEscalationRequest,
    Incident,
    ServiceCreditBreach,
    ServiceCreditRequest,
)
from escalations.security.access import may_change_case
from escalations.selectors.valves import (
    LIVE,
    CreditWeek,
    approvers_for,
    breach_spans,
    credit_breaches_open,
    credits_claimed_in_month,
    decision_refusal,
    executive_availability,
    executive_rung,
    incident_executive_trigger,
    service_credit_eligibility,
    service_credits_totals,
)
from escalations.services.clocks import incident_recompute_clocks
from escalations.services.common import audited_insert, audited_save, event_record, incident_lock
from escalations.services.engine.roster import Roster, recipients_for, roster_load, step_recipients
from escalations.services.notifications import notification_build, notifications_enqueue_on_commit
from escalations.sla.sweep import climb_due_at

NOTICE_CHANNELS = (NotificationChannel.IN_APP, NotificationChannel.EMAIL)


def approvals_url() -> str:
    # Built by hand like notifications.case_url: the services never reverse web URLs.
    return f"{settings.SITE_URL}/manage/approvals/"


def _reason(text: str | None, *, field: str, what: str) -> str:
    text = (text or "").strip()
    if not text:
        raise RuleViolation(f"Say why {what}.", field=field, code="reason_required")
    return text


def _may_work(actor, incident: Incident) -> None:
    if not may_change_case(actor, incident):
        raise NotAllowed("Only someone who may work this case can ask for that.", field=None)


def _may_decide(actor, request) -> None:
    if refusal := decision_refusal(actor, request.requested_by_id):
        raise refusal


def _notify(
    incident: Incident, people: Iterable, *, kind: str, key: str, subject: str, text: str, actor, now: datetime
) -> None:
    """In-app and email notices to ``people`` about ``incident``, published after commit:
    ``approval`` asks the Managers (and links their approvals page), ``decision`` tells
    the requester."""
    recipients = recipients_for(people, NOTICE_CHANNELS, incident=incident, roster=Roster(at=now))
    rows = [
        notification_build(incident=incident, recipient=r, kind=kind, key=key, subject=subject, text=text, now=now)
        for r in recipients
    ]
    for row in rows if kind == "approval" else ():
        row.payload["links"]["approvals"] = approvals_url()
    notifications_enqueue_on_commit(audited_insert(rows, actor=actor) if rows else [])


def _waiting_note(approvers: list) -> str:
    if approvers:
        return "Waiting for a Manager's approval."
    return "Waiting: no other Manager can approve it yet (the requester never decides their own request)."


# --- Executive escalation ------------------------------------------------------------------


def _escalate_to_executive(incident: Incident, step: EscalationStep, *, why: str, actor, now: datetime) -> Escalation:
    """Raise the locked case to the executive rung and page it. The case keeps its
    version: only bookkeeping changes (as when the sweep climbs), so nobody's open form
    goes stale."""
    roster = roster_load(at=now, team_ids=[incident.team_id] if incident.team_id else [])
    recipients, _ = step_recipients(step, incident, roster)
    notified = [r.as_dict() for r in recipients]
    escalation = Escalation(
        incident=incident,
        level=step.level,
        reason=why[:300],
        step=step,
        notified=notified,
        created_at=now,
        actor=actor,
        is_executive=True,
    )
    audited_save(escalation, actor=actor)
    old_level = incident.escalation_level
    chain = roster.chains.get(incident.policy_id, {})
    incident.escalation_level = step.level
    incident.next_escalation_at = climb_due_at(step.level, chain, paged_at=now)
    fields = ["escalation_level", "next_escalation_at", *incident_recompute_clocks(incident, now=now)]
    audited_save(incident, actor=actor, update_fields=fields)
    pages = [
        notification_build(
            incident=incident,
            recipient=r,
            kind="escalation",
            key=f"esc:{incident.pk}:L{step.level}",
            subject=f"Executive escalation: {incident.severity} {incident.reference} {incident.title}",
            text=f"[{incident.severity}] {incident.reference} {incident.title}: {why}. "
            f"Escalated to level {step.level} (Executive).",
            now=now,
            escalation=escalation,
        )
        for r in recipients
    ]
    notifications_enqueue_on_commit(audited_insert(pages, actor=actor) if pages else [])
    names = ", ".join(sorted({r.label for r in recipients})) or "nobody: no executive is on call"
    event_record(
        incident=incident,
        kind=EventKind.ESCALATED,
        actor=actor,
        at=now,
        new={"level": step.level, "target": step.target, "notified": notified, "executive": True},
        detail=f"Level {old_level} → {step.level} (Executive): {why}. Notified {names}",
    )
    return escalation


def executive_escalation_request(*, incident: Incident | int, reason: str, actor, now: datetime):
    """Ask for the case's executive rung. Immediate (status ``triggered``, the rung paged)
    when an objective trigger of its policy holds; else a pending request that notifies
    the Managers. One pending request per case (``executive_request_one_pending``)."""
    reason = _reason(reason, field="reason", what="an executive is needed")
    with transaction.atomic():
        incident = incident_lock(incident)
        _may_work(actor, incident)
        available = executive_availability(incident)
        if available.refusal is not None:
            raise available.refusal
        step = available.step
        trigger = incident_executive_trigger(incident, now=now)
        request = ExecutiveEscalationRequest(
            incident=incident, reason=reason, requested_by=actor, requested_at=now, status=ValveStatus.PENDING
        )
        if trigger is not None:
            request.escalation = _escalate_to_executive(
                incident, step, why=f"Executive escalation (objective trigger: {trigger.name}): {reason}",
                actor=actor, now=now,
            )  # fmt: skip
            request.status, request.trigger, request.decided_at = ValveStatus.TRIGGERED, trigger.name, now
        audited_save(request, actor=actor)
        approvers = approvers_for(actor) if trigger is None else []
        detail = (
            f"Immediate: the objective trigger “{trigger.name}” holds. Reason: {reason}"
            if trigger is not None
            else f"{_waiting_note(approvers)} Reason: {reason}"
        )
        event_record(
            incident=incident,
            kind=EventKind.EXECUTIVE_REQUESTED,
            actor=actor,
            at=now,
            new={"request": request.pk, "status": request.status, "trigger": request.trigger},
            detail=detail,
        )
        if trigger is None:
            _notify(
                incident, approvers,
                kind="approval", key=f"exec-request:{request.pk}",
                subject=f"Approval needed: executive escalation of {incident.reference}",
                text=f"{person_name(actor)} asks to escalate [{incident.severity}] {incident.reference} {incident.title} "
                f"to an executive: {reason}",
                actor=actor, now=now,
            )  # fmt: skip
        return request


def executive_escalation_decide(
    *, request: ExecutiveEscalationRequest | int, approve: bool, reason: str, actor, now: datetime
) -> ExecutiveEscalationRequest:
    """A Manager's answer to a pending request, with a reason: approving escalates the
    case to its executive rung and pages it; denying leaves the chain where it is.
    Either way the requester is told."""
    reason = _reason(reason, field="decision_reason", what=f"you {'approve' if approve else 'deny'} it")
    pk = request.pk if isinstance(request, ExecutiveEscalationRequest) else request
    with transaction.atomic():
        incident_id = ExecutiveEscalationRequest.objects.values_list("incident_id", flat=True).get(pk=pk)
        # Lock order: the case, then the request — as the request service takes them.
        incident = incident_lock(incident_id)
        request = ExecutiveEscalationRequest.objects.select_for_update().select_related("requested_by").get(pk=pk)
        _may_decide(actor, request)
        if request.status != ValveStatus.PENDING:
            raise InvalidTransition(
                f"This request was already decided ({request.get_status_display().lower()}).",
                field="status",
                code="already_decided",
            )
        if approve:
            available = executive_availability(incident, deciding=request)
            if available.refusal is not None:
                raise available.refusal
            step = available.step
            request.escalation = _escalate_to_executive(
                incident, step, why=f"Executive escalation approved by {person_name(actor)}: {request.reason}",
                actor=actor, now=now,
            )  # fmt: skip
        request.status = ValveStatus.APPROVED if approve else ValveStatus.DENIED
        request.decided_by, request.decided_at, request.decision_reason = actor, now, reason
        audited_save(
            request, actor=actor, update_fields=["status", "decided_by", "decided_at", "decision_reason", "escalation"]
        )
        verb = "approved" if approve else "denied"
        event_record(
            incident=incident,
            kind=EventKind.EXECUTIVE_DECIDED,
            actor=actor,
            at=now,
            old={"status": ValveStatus.PENDING},
            new={"request": request.pk, "status": request.status},
            detail=f"Executive escalation {verb}: {reason}",
        )
        _notify(
            incident, [request.requested_by], kind="decision", key=f"exec-decision:{request.pk}",
            subject=f"Executive escalation of {incident.reference} {verb}",
            text=f"{person_name(actor)} {verb} your executive escalation of {incident.reference}: {reason}",
            actor=actor, now=now,
        )  # fmt: skip
        return request


# --- Service credits -------------------------------------------------------------------------


def _amount(value) -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        raise RuleViolation("Give the amount as a number, e.g. 1250.00.", field="amount") from None
    if amount <= 0:
        raise RuleViolation("The amount must be more than zero.", field="amount")
    return amount


def service_credit_request(
    *, incident: Incident | int, breaches: Iterable[int], amount, justification: str, actor, now: datetime
) -> ServiceCreditRequest:
    """Ask for a service credit for some of the case's breaches: ``amount`` at most what
    the tier's rule gives for them now; a breach is in one live request at most."""
    justification = _reason(justification, field="justification", what="the customer should get a credit")
    amount = _amount(amount)
    ids = sorted({int(pk) for pk in breaches})
    if not ids:
        raise RuleViolation("Choose the breaches the credit is for.", field="breaches", code="no_breaches")
    with transaction.atomic():
        incident = incident_lock(incident)
        _may_work(actor, incident)
        if incident.is_drill:
            raise RuleViolation("A drill earns no service credit.", field="breaches", code="drill")
        # Locked so two requests naming the same breach cannot both pass the check below.
        chosen = list(
            Breach.objects.select_for_update(of=("self",))
            .filter(incident=incident, pk__in=ids)
            .select_related("handoff")
        )
        if len(chosen) != len(ids):
            raise RuleViolation("Choose breaches of this case.", field="breaches", code="unknown_breach")
        claimed = ServiceCreditBreach.objects.filter(breach__in=chosen, request__status__in=LIVE).exists()
        if claimed:
            raise RuleViolation(
                "A breach you chose already has a service-credit request.", field="breaches", code="already_claimed"
            )
        figure = service_credit_eligibility(incident=incident, breaches=chosen, now=now)
        if figure.amount <= 0 and figure.capped:
            raise RuleViolation(
                "This case's service credits already reach the tier's monthly cap: "
                "no more credit is due for it this month.",
                field="breaches",
                code="month_cap_reached",
            )
        if figure.amount <= 0:
            raise RuleViolation(
                f"These breaches earn no credit: no rule for the {incident.customer.get_tier_display()} tier, "
                "or no monthly fee on the customer.",
                field="breaches",
                code="not_eligible",
            )
        if amount > figure.amount:
            cap_note = " (the tier's cap, less this month's earlier requests for the case)" if figure.capped else ""
            raise RuleViolation(
                f"At most {figure.amount} USD: {duration_text(figure.breached)} breached gives "
                f"{figure.percent.quantize(Decimal('0.01'))} % of the monthly fee{cap_note}.",
                field="amount",
                code="over_eligible",
            )
        request = ServiceCreditRequest(
            incident=incident,
            status=ValveStatus.PENDING,
            breached_seconds=int(figure.breached.total_seconds()),
            eligible_amount=figure.amount,
            amount=amount,
            justification=justification,
            requested_by=actor,
            requested_at=now,
        )
        audited_save(request, actor=actor)
        audited_insert([ServiceCreditBreach(request=request, breach=b) for b in chosen], actor=actor)
        approvers = approvers_for(actor)
        event_record(
            incident=incident,
            kind=EventKind.CREDIT_REQUESTED,
            actor=actor,
            at=now,
            new={"request": request.pk, "amount": str(amount), "breaches": ids, "eligible": str(figure.amount)},
            detail=f"Service credit of {amount} USD requested for {len(chosen)} breach(es) "
            f"({duration_text(figure.breached)} breached; at most {figure.amount} USD). "
            f"{_waiting_note(approvers)} Justification: {justification}",
        )
        _notify(
            incident, approvers,
            kind="approval", key=f"credit-request:{request.pk}",
            subject=f"Approval needed: service credit of {amount} USD on {incident.reference}",
            text=f"{person_name(actor)} asks for a service credit of {amount} USD for {incident.customer.name} "
            f"({incident.reference}): {justification}",
            actor=actor, now=now,
        )  # fmt: skip
        return request


def service_credit_decide(
    *, request: ServiceCreditRequest | int, approve: bool, reason: str, actor, now: datetime
) -> ServiceCreditRequest:
    """A Manager approves or denies a pending service-credit request, with a reason; the
    requester is told."""
    reason = _reason(reason, field="decision_reason", what=f"you {'approve' if approve else 'deny'} it")
    pk = request.pk if isinstance(request, ServiceCreditRequest) else request
    with transaction.atomic():
        incident_id = ServiceCreditRequest.objects.values_list("incident_id", flat=True).get(pk=pk)
        incident = incident_lock(incident_id)
        request = ServiceCreditRequest.objects.select_for_update().select_related("requested_by").get(pk=pk)
        _may_decide(actor, request)
        if request.status != ValveStatus.PENDING:
            raise InvalidTransition(
                f"This request was already decided ({request.get_status_display().lower()}).",
                field="status",
                code="already_decided",
            )
        request.status = ValveStatus.APPROVED if approve else ValveStatus.DENIED
        request.decided_by, request.decided_at, request.decision_reason = actor, now, reason
        audited_save(request, actor=actor, update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        verb = "approved" if approve else "denied"
        event_record(
            incident=incident,
            kind=EventKind.CREDIT_DECIDED,
            actor=actor,
            at=now,
            old={"status": ValveStatus.PENDING},
            new={"request": request.pk, "status": request.status, "amount": str(request.amount)},
            detail=f"Service credit of {request.amount} USD {verb}: {reason}",
        )
        _notify(
            incident, [request.requested_by], kind="decision", key=f"credit-decision:{request.pk}",
            subject=f"Service credit on {incident.reference} {verb}",
            text=f"{person_name(actor)} {verb} the service credit of {request.amount} USD on {incident.reference}: {reason}",
            actor=actor, now=now,
        )  # fmt: skip
        return request


__all__ = [
    "CreditWeek",
    "approvers_for",
    "breach_spans",
    "credit_breaches_open",
    "credits_claimed_in_month",
    "decision_refusal",
    "executive_escalation_decide",
    "executive_escalation_request",
    "executive_rung",
    "incident_executive_trigger",
    "service_credit_decide",
    "service_credit_eligibility",
    "service_credit_request",
    "service_credits_totals",
]
