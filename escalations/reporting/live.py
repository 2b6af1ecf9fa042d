"""What is read at every view of a week, because it changes after the week ends or is a
list of rows rather than a figure: the week's breaches by the cause confirmed in review,
and the escape valves used (who, when, why, and the Manager's answer). Each is one
small query over one week's rows, through the indexes on their time columns."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from escalations.choices import BreachCause, EventKind, SeveritySource
from escalations.models import (
    Breach,
    BreachCauseOption,
    CaseEvent,
    Escalation,
    ExecutiveEscalationRequest,
    ServiceCreditRequest,
)
from escalations.reporting.aggregates import in_range, pareto
from escalations.sla.weeks import Week

# The rows of each escape-valve list shown on the page: a week has a handful; the cap
# keeps a pathological week's page bounded.
VALVE_ROWS = 200


def _names(*relations: str) -> list[str]:
    """What a list row shows of its people: their names only."""
    return [f"{rel}__{name}" for rel in relations for name in ("username", "first_name", "last_name")]


# Each list reads the columns its rows show: a case's full row (its two dozen times) for
# each of a hundred rows would cost more than every query of the page together.
_CASE = ("incident__id", "incident__severity")


@dataclass
class BreachCauses:
    """``counts``: every cause on the list, "unknown" (not yet reviewed) and any retired
    cause with a breach, keyed by code; ``pareto``: those with breaches, largest first."""

    counts: dict[str, int]
    pareto: list[dict]


def breaches_by_cause(week: Week) -> BreachCauses:
    """The week's breaches by confirmed cause, as the editable list names them (two
    queries)."""
    labels = {BreachCause.UNKNOWN.value: str(BreachCause.UNKNOWN.label)}
    labels.update(BreachCauseOption.objects.values_list("code", "label"))
    counts = dict.fromkeys(labels, 0)
    rows = (
        Breach.objects.filter(in_range("detected_at", week.starts_at, week.ends_at), incident__is_drill=False)
        .order_by()
        .values("cause", "cause__label")
        .annotate(n=Count("id"))
    )
    for row in rows:
        code = row["cause"] or BreachCause.UNKNOWN.value
        counts[code] = counts.get(code, 0) + row["n"]
        if row["cause"]:
            labels[code] = row["cause__label"]
    return BreachCauses(counts=counts, pareto=pareto(counts, labels))


@dataclass
class EscapeValves:
    executive_escalations: list[Escalation] = field(default_factory=list)
    severity_overrides: list[CaseEvent] = field(default_factory=list)
    executive_requests: list[ExecutiveEscalationRequest] = field(default_factory=list)
    credit_requests: list[ServiceCreditRequest] = field(default_factory=list)


def escape_valves(week: Week) -> EscapeValves:
    """The escape valves used in the week, with who, when and why (four queries)."""
    real = Q(incident__is_drill=False)
    start, end = week.starts_at, week.ends_at
    # A severity set by a person: changed by hand, or chosen at intake over the triggers'.
    # The very condition of the partial index event_manual_severity_idx.
    manual = Q(kind__in=[EventKind.SEVERITY_CHANGED, EventKind.CREATED], new__source=SeveritySource.MANUAL.value)
    return EscapeValves(
        executive_escalations=list(
            Escalation.objects.filter(in_range("created_at", start, end), real, is_executive=True)
            .select_related("incident", "actor", "acknowledged_by")
            .only("created_at", "reason", "level", "acknowledged_at", *_CASE, *_names("actor", "acknowledged_by"))
            .order_by("created_at", "id")[:VALVE_ROWS]
        ),
        severity_overrides=list(
            CaseEvent.objects.filter(in_range("at", start, end), real, manual)
            .select_related("incident", "actor")
            .only("at", "kind", "detail", *_CASE, *_names("actor"))
            .order_by("at", "id")[:VALVE_ROWS]
        ),
        executive_requests=list(
            ExecutiveEscalationRequest.objects.filter(in_range("requested_at", start, end), real)
            .select_related("incident", "requested_by", "decided_by")
            .only(
                "requested_at",
                "reason",
                "status",
                "trigger",
                "decided_at",
                "decision_reason",
                *_CASE,
                *_names("requested_by", "decided_by"),
            )  # fmt: skip
            .order_by("requested_at", "id")[:VALVE_ROWS]
        ),
        credit_requests=list(
            ServiceCreditRequest.objects.filter(in_range("requested_at", start, end), real)
            .select_related("incident", "requested_by", "decided_by")
            .only(
                "requested_at",
                "amount",
                "justification",
                "status",
                "decided_at",
                "decision_reason",
                *_CASE,
                *_names("requested_by", "decided_by"),
            )  # fmt: skip
            .order_by("requested_at", "id")[:VALVE_ROWS]
        ),
    )
