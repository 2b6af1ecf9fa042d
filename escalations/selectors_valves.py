"""Reads for the escape valves: a case's requests and the breaches still open to a
service credit (the case page), and the requests waiting for a Manager (the approvals
page). Each is a fixed number of queries whatever the number of rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch

from escalations.choices import ValveStatus
from escalations.models import Breach, ExecutiveEscalationRequest, Incident, ServiceCreditRequest
from escalations.services.valves import credit_breaches_open, service_credit_eligibility
from escalations.sla.credits import CreditFigure


@dataclass
class CaseValves:
    executive: list[ExecutiveEscalationRequest] = field(default_factory=list)
    credits: list[ServiceCreditRequest] = field(default_factory=list)
    open_breaches: list[Breach] = field(default_factory=list)
    eligible: CreditFigure | None = None  # for every open breach together

    @property
    def executive_pending(self) -> ExecutiveEscalationRequest | None:
        return next((r for r in self.executive if r.status == ValveStatus.PENDING), None)


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
