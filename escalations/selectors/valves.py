"""Reads for the escape valves: a case's requests and the breaches still open to a
service credit (the case page), and the requests waiting for a Manager (the approvals
page). Each is a fixed number of queries whatever the number of rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Sum
from django.db.models.functions import TruncWeek

from escalations.choices import OPEN_STATUSES, ChainTarget, ClockKind, ValveStatus
from escalations.display import person_name
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation, ServiceError
from escalations.models import (
    Breach,
    CustomerUpdate,
    EscalationStep,
    ExecutiveEscalationRequest,
    Incident,
    ResolveCycle,
    ServiceCreditRequest,
    ServiceCreditRule,
)
from escalations.security.access import may_decide_valves
from escalations.security.roles import MANAGERS
from escalations.selectors.clocks import incident_pauses, snapshot_calendar
from escalations.selectors.policies import active_rules
from escalations.sla import ImpactFacts
from escalations.sla.credits import (
    BreachSpan,
    CreditFigure,
    CreditRuleTerms,
    billing_month,
    credit_figure,
    month_cap_applied,
)
from escalations.sla.triggers import Rule, executive_trigger


@dataclass
class CaseValves:
    executive: list[ExecutiveEscalationRequest] = field(default_factory=list)
    credits: list[ServiceCreditRequest] = field(default_factory=list)
    open_breaches: list[Breach] = field(default_factory=list)
    eligible: CreditFigure | None = None  # for every open breach together

    @property
    def credit_due(self) -> bool:
        """Whether a service credit may be asked for now: unclaimed breaches that earn
        more than nothing within the month's cap (what ``service_credit_request``
        accepts; a drill's figure is never computed)."""
        return bool(self.open_breaches and self.eligible is not None and self.eligible.amount > 0)


def case_valves(incident: Incident, *, now: datetime) -> CaseValves:
    """The case's executive and service-credit requests, newest first, and the breaches
    no live request claims with what they earn together (three queries, three more when
    there are open breaches)."""
    valves = CaseValves(
        executive=list(
            ExecutiveEscalationRequest.objects.filter(incident=incident).select_related("requested_by", "decided_by")
        ),
        credits=list(
            ServiceCreditRequest.objects.filter(incident=incident).select_related("requested_by", "decided_by")
        ),
        open_breaches=credit_breaches_open(incident),
    )
    if valves.open_breaches and not incident.is_drill:
        valves.eligible = service_credit_eligibility(incident=incident, breaches=valves.open_breaches, now=now)
    return valves


_CASE = ("incident", "incident__customer", "requested_by")


def executive_requests_pending() -> list[ExecutiveEscalationRequest]:
    """Executive escalation requests waiting for a Manager, oldest first (drills too:
    a drill practises the approval as well)."""
    return list(
        ExecutiveEscalationRequest.objects.filter(status=ValveStatus.PENDING)
        .select_related(*_CASE)
        .order_by("requested_at", "pk")
    )


def credit_requests_pending() -> list[ServiceCreditRequest]:
    """Service-credit requests waiting for a Manager, oldest first, with their breaches."""
    return list(
        ServiceCreditRequest.objects.filter(status=ValveStatus.PENDING)
        .select_related(*_CASE)
        .prefetch_related(Prefetch("breaches", queryset=Breach.objects.order_by("detected_at", "pk")))
        .order_by("requested_at", "pk")
    )


__all__ = ["CaseValves", "case_valves", "credit_requests_pending", "executive_requests_pending"]


LIVE = (ValveStatus.PENDING, ValveStatus.APPROVED)


def decision_refusal(actor, requested_by_id: int | None) -> ServiceError | None:
    """Why ``actor`` may not decide a request made by ``requested_by_id`` (None: they
    may). Managers decide (``access.may_decide_valves``), and never their own request:
    four eyes, whoever asks, superusers included. The one check of it, for every door
    and for the approvals page's buttons."""
    if not may_decide_valves(actor):
        return NotAllowed(
            "Only a Manager may approve or deny this request.", field="decision_reason", code="not_a_manager"
        )
    if requested_by_id is not None and actor.pk == requested_by_id:
        return NotAllowed(
            "You asked for this yourself: another Manager decides it.", field="decision_reason", code="own_request"
        )
    return None


def approvers_for(requester) -> list:
    """Who may decide ``requester``'s request and is told of it: the other active
    Managers; when the requester is the only one, the active superusers (never the
    requester). Empty: nobody can decide it yet, and the request says so."""
    User = get_user_model()
    others = User.objects.filter(is_active=True).exclude(pk=requester.pk).order_by("pk")
    managers = list(others.filter(groups__name=MANAGERS).distinct())
    return managers or list(others.filter(is_superuser=True))


def executive_rung(incident: Incident) -> EscalationStep | None:
    """The executive rung of the case's chain, when its policy allows one."""
    step = (
        EscalationStep.objects.filter(policy_id=incident.policy_id, target=ChainTarget.EXECUTIVE)
        .order_by("level")
        .first()
    )
    if step is None or not incident.policy.chain_may_reach(step.target):
        return None
    return step


@dataclass(frozen=True)
class ExecutiveAvailability:
    """Whether the case may be escalated to an executive now, and why not. Unpacks as
    ``(allowed, why)``; ``step`` is the rung it would reach, ``refusal`` the error the
    services raise (its message is ``why``)."""

    step: EscalationStep | None
    refusal: ServiceError | None

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    @property
    def why(self) -> str:
        return "" if self.refusal is None else self.refusal.message

    def __iter__(self):
        return iter((self.allowed, self.why))


def executive_availability(
    incident: Incident,
    *,
    requests: Sequence[ExecutiveEscalationRequest] | None = None,
    deciding: ExecutiveEscalationRequest | None = None,
) -> ExecutiveAvailability:
    """The one rule for "may this case be escalated to an executive now": the case is
    open; its policy allows executive escalation and its chain has an executive rung
    (``executive_rung``); the case is not already at that rung or above; and no request
    is waiting for a Manager (one pending request per case). A drill may ask: it
    practises the approval too, and its pages are suppressed. Who asks is the case's
    access rule (``access.may_change_case``), checked beside this.

    ``requests``: the case's requests when the caller has them (the case page), else one
    query. ``deciding``: the pending request a Manager is approving, which does not stand
    in its own way. The request and approval services refuse with ``refusal``; the case
    page offers the button exactly when ``allowed`` and shows ``why`` otherwise."""
    if incident.status not in OPEN_STATUSES:
        return ExecutiveAvailability(
            None, InvalidTransition("Only an open case can be escalated to an executive.", field="status")
        )
    step = executive_rung(incident)
    if step is None:
        policy = incident.policy
        why = (
            f"The {incident.severity} policy's chain has no executive rung."
            if policy.allows_executive_escalation
            else f"The {incident.severity} policy does not escalate to executives."
        )
        return ExecutiveAvailability(None, RuleViolation(why, field="severity", code="no_executive_rung"))
    if incident.escalation_level >= step.level:
        return ExecutiveAvailability(
            step,
            InvalidTransition(
                f"The case is already at level {incident.escalation_level}, the executive rung or above.",
                field="escalation_level",
                code="already_executive",
            ),
        )
    if requests is None:
        pending = (
            ExecutiveEscalationRequest.objects.filter(incident=incident, status=ValveStatus.PENDING)
            .select_related("requested_by")
            .first()
        )
    else:
        pending = next((r for r in requests if r.status == ValveStatus.PENDING), None)
    if pending is not None and (deciding is None or pending.pk != deciding.pk):
        return ExecutiveAvailability(
            step,
            RuleViolation(
                f"{person_name(pending.requested_by)} already asked for an executive escalation of this case; "
                "it is waiting for a Manager.",
                field="reason",
                code="already_pending",
            ),
        )
    return ExecutiveAvailability(step, None)


def incident_executive_trigger(
    incident: Incident, *, now: datetime, rules: Sequence[Rule] | None = None
) -> Rule | None:
    """The objective trigger of the case's policy that holds now, if any."""
    facts = ImpactFacts(
        arr_at_risk=Decimal(incident.arr_at_risk),
        users_affected_pct=Decimal(incident.users_affected_pct),
        data_risk=incident.data_risk,
        legal_risk=incident.legal_risk,
        security_risk=incident.security_risk,
        last_progress_at=incident.last_progress_at,
        now=now,
    )
    return executive_trigger(active_rules() if rules is None else rules, facts, severity=incident.severity)


def credit_terms(tier: str) -> CreditRuleTerms | None:
    rule = ServiceCreditRule.objects.filter(tier=tier).first()
    return None if rule is None else CreditRuleTerms(rule.percent_per_hour, rule.cap_percent)


def breach_spans(incident: Incident, breaches: Sequence[Breach]) -> dict[int, BreachSpan]:
    """Each breach's due time and when its promise was kept late (None: still unkept):
    the acknowledgement; the resolve cycle's end; the first customer update after the
    due time (or the case resolved first); the handoff's answer. Two queries."""
    cycles = list(ResolveCycle.objects.filter(incident=incident).values_list("number", "ended_at"))
    ended = {number: end for number, end in cycles}
    updates = list(
        CustomerUpdate.objects.filter(incident=incident).order_by("posted_at").values_list("posted_at", flat=True)
    )
    spans: dict[int, BreachSpan] = {}
    for breach in breaches:
        kept: datetime | None = None
        if breach.kind == ClockKind.ACK:
            kept = incident.acknowledged_at
        elif breach.kind == ClockKind.RESOLVE:
            kept = ended.get(breach.cycle)
        elif breach.kind == ClockKind.UPDATE:
            later = [t for t in updates if t >= breach.due_at]
            later += [end for end in ended.values() if end is not None and end >= breach.due_at]
            kept = min(later, default=None)
        elif breach.kind == ClockKind.HANDOFF and breach.handoff is not None:
            kept = breach.handoff.responded_at
        spans[breach.pk] = BreachSpan(due_at=breach.due_at, kept_at=kept)
    return spans


def service_credit_eligibility(*, incident: Incident, breaches: Sequence[Breach], now: datetime) -> CreditFigure:
    """What ``breaches`` of the case earn its customer under their tier's rule now,
    within what the cap leaves of this billing month after the case's live requests."""
    spans = breach_spans(incident, breaches)
    terms = credit_terms(incident.customer.tier)
    figure = credit_figure(
        spans.values(),
        terms=terms,
        monthly_fee=incident.customer.monthly_fee,
        now=now,
        pauses=incident_pauses(incident),
        calendar=snapshot_calendar(incident.calendar_snapshot),
    )
    return month_cap_applied(
        figure, terms=terms, monthly_fee=incident.customer.monthly_fee, already=credits_claimed_in_month(incident, now)
    )


def credits_claimed_in_month(incident: Incident, at: datetime) -> Decimal:
    """The amounts of the case's live (pending or approved) requests made in the billing
    month of ``at``."""
    starts, ends = billing_month(at)
    total = ServiceCreditRequest.objects.filter(
        incident=incident, status__in=LIVE, requested_at__gte=starts, requested_at__lt=ends
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0.00")


def credit_breaches_open(incident: Incident) -> list[Breach]:
    """The case's breaches no live (pending or approved) request already claims."""
    return list(
        Breach.objects.filter(incident=incident)
        .exclude(credit_links__request__status__in=LIVE)
        .select_related("handoff")
        .order_by("detected_at", "pk")
    )


@dataclass(frozen=True)
class CreditWeek:
    """One ISO week's service credits (Monday 00:00 UTC onwards): requested in the week,
    and approved in the week (by when the Manager approved). Drills never count."""

    week: date
    requested_count: int
    requested_amount: Decimal
    approved_count: int
    approved_amount: Decimal


def _monday(at: datetime) -> date:
    day = at.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def service_credits_totals(starts_at: datetime, ends_at: datetime) -> list[CreditWeek]:
    """Service credits per ISO week in [starts_at, ends_at), every week listed (zeros
    included), oldest first. Two aggregate queries."""
    real = ServiceCreditRequest.objects.filter(incident__is_drill=False)
    requested = {
        row["week"].date(): row
        for row in real.filter(requested_at__gte=starts_at, requested_at__lt=ends_at)
        .annotate(week=TruncWeek("requested_at", tzinfo=UTC))
        .values("week")
        .annotate(n=Count("pk"), total=Sum("amount"))
    }
    approved = {
        row["week"].date(): row
        for row in real.filter(status=ValveStatus.APPROVED, decided_at__gte=starts_at, decided_at__lt=ends_at)
        .annotate(week=TruncWeek("decided_at", tzinfo=UTC))
        .values("week")
        .annotate(n=Count("pk"), total=Sum("amount"))
    }
    weeks: list[CreditWeek] = []
    week, last = _monday(starts_at), _monday(ends_at - timedelta(microseconds=1))
    zero = Decimal("0.00")
    while week <= last:
        asked, granted = requested.get(week, {}), approved.get(week, {})
        weeks.append(
            CreditWeek(
                week=week,
                requested_count=asked.get("n", 0),
                requested_amount=asked.get("total") or zero,
                approved_count=granted.get("n", 0),
                approved_amount=granted.get("total") or zero,
            )
        )
        week += timedelta(days=7)
    return weeks
