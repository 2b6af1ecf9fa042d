"""What is read at every view of a week, because it changes after the week ends or is a
list of rows rather than a figure: the week's breaches by the cause confirmed in review,
and the escape valves used (who, when, why, and the Manager's answer). Each is one
small query over one week's rows, through the indexes on their time columns."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q

from escalations.choices import BreachCause, EventKind, SeverityKey, SeveritySource, ValveStatus
from escalations.models import (
    Breach,
    BreachCauseOption,
    CaseEvent,
    Escalation,
    ExecutiveEscalationRequest,
    ServiceCreditRequest,
)
from escalations.models.cases import reference_for
from escalations.reporting.aggregates import in_range, pareto
from escalations.sla.weeks import Week

# The rows of each escape-valve list shown on the page: a week has a handful; the cap
# keeps a pathological week's page bounded.
VALVE_ROWS = 200


# The lists' rows are plain dicts of what the page shows (names, labels, the case's
# reference), read with values(): a model instance per row — a case, two people and the
# row itself — cost more than every other part of the page together at a hundred rows.
_PEOPLE = ("username", "first_name", "last_name")


def _columns(*people: str) -> list[str]:
    return ["incident_id", *(f"{rel}__{name}" for rel in people for name in _PEOPLE)]


def _name(row: dict, rel: str) -> str:
    """A person as pages name them (``display.person_name``): full name, else username."""
    username = row[f"{rel}__username"]
    if username is None:
        return ""
    return f"{row[f'{rel}__first_name']} {row[f'{rel}__last_name']}".strip() or username


def _case(row: dict) -> dict:
    return {"case_id": row["incident_id"], "reference": reference_for(row["incident_id"])}


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
    """Each list's rows, oldest first, at most VALVE_ROWS each."""

    executive_escalations: list[dict] = field(default_factory=list)
    severity_overrides: list[dict] = field(default_factory=list)
    executive_requests: list[dict] = field(default_factory=list)
    credit_requests: list[dict] = field(default_factory=list)


def escape_valves(week: Week) -> EscapeValves:
    """The escape valves used in the week, with who, when and why (four queries)."""
    real = Q(incident__is_drill=False)
    start, end = week.starts_at, week.ends_at
    severities = dict(SeverityKey.choices)
    statuses = dict(ValveStatus.choices)
    escalations = (
        Escalation.objects.filter(in_range("created_at", start, end), real, is_executive=True)
        .order_by("created_at", "id")
        .values(
            "created_at", "reason", "level", "acknowledged_at", "incident__severity",
            *_columns("actor", "acknowledged_by"),
        )[:VALVE_ROWS]
    )  # fmt: skip
    # A severity set by a person: changed by hand, or chosen at intake over the triggers'.
    # The very condition of the partial index event_manual_severity_idx.
    manual = Q(kind__in=[EventKind.SEVERITY_CHANGED, EventKind.CREATED], new__source=SeveritySource.MANUAL.value)
    overrides = (
        CaseEvent.objects.filter(in_range("at", start, end), real, manual)
        .order_by("at", "id")
        .values("at", "kind", "detail", *_columns("actor"))[:VALVE_ROWS]
    )
    answer = ("status", "decided_at", "decision_reason", "requested_at")
    executive_requests = (
        ExecutiveEscalationRequest.objects.filter(in_range("requested_at", start, end), real)
        .order_by("requested_at", "id")
        .values(*answer, "reason", "trigger", *_columns("requested_by", "decided_by"))[:VALVE_ROWS]
    )
    credit_requests = (
        ServiceCreditRequest.objects.filter(in_range("requested_at", start, end), real)
        .order_by("requested_at", "id")
        .values(*answer, "amount", "justification", *_columns("requested_by", "decided_by"))[:VALVE_ROWS]
    )

    def answered(row: dict) -> dict:
        return {
            "at": row["requested_at"],
            "who": _name(row, "requested_by"),
            "status": statuses.get(row["status"], row["status"]),
            "decided_by": _name(row, "decided_by"),
            "decided_at": row["decided_at"],
            "decision_reason": row["decision_reason"],
        }

    return EscapeValves(
        executive_escalations=[
            {
                **_case(row),
                "at": row["created_at"],
                "severity": severities.get(row["incident__severity"], row["incident__severity"]),
                "who": _name(row, "actor"),
                "why": row["reason"],
                "rung": row["level"],
                "acknowledged_at": row["acknowledged_at"],
                "acknowledged_by": _name(row, "acknowledged_by"),
            }
            for row in escalations
        ],
        severity_overrides=[
            {
                **_case(row),
                "at": row["at"],
                "who": _name(row, "actor"),
                "at_intake": row["kind"] == EventKind.CREATED,
                "what": row["detail"],
            }
            for row in overrides
        ],
        executive_requests=[
            {**_case(row), **answered(row), "why": row["reason"], "trigger": row["trigger"]}
            for row in executive_requests
        ],
        credit_requests=[
            {**_case(row), **answered(row), "why": row["justification"], "amount": row["amount"]}
            for row in credit_requests
        ],
    )
