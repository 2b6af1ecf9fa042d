"""The weekly review: what the playbook says to measure, for one ISO week.

Weeks are ISO weeks in UTC (Monday 00:00 to the next Monday 00:00). Only real cases
count: drills never pollute metrics. Every figure is an aggregate the database computes
(counts, sums, group-bys) over an indexed time range; only the percentiles read one
column of one week's rows, never whole rows.

Definitions:
- cases_opened: real cases reported in the week.
- tta: acknowledge-clock time of the cases acknowledged in the week (the counted value
  recorded on the acknowledge event: pauses and off-hours excluded).
- ttr_cycle: counted resolve time of each resolve cycle that ended in the week; a
  reopened case contributes one value per cycle. ttr_total: per case resolved in the
  week, the sum over all its cycles.
- sla_adherence: acknowledge = acknowledgements within target ÷ (the week's
  acknowledgements + its acknowledge breaches of cases still unacknowledged at the week's
  end); resolve = cycles that met their target ÷ (the week's ended cycles + its resolve
  breaches of cycles still open at the week's end); update = updates on time ÷ (the
  week's updates + its update breaches with no update posted by the week's end). A breach
  therefore always lowers adherence. Null when there was nothing to measure.
- breaches: detected in the week, by clock kind and by confirmed cause (keyed by the
  cause's code, every cause on the list present; "unknown": not yet reviewed).
- handoffs: offered in the week; accepted/rejected = answered in the week; ping_pong =
  offers in the week that bounced straight back.
- arr_at_risk_total: ARR at risk of the cases opened in the week.
- executive_escalations: escalations that reached an executive in the week.
- sentiment: customer sentiment of the cases opened in the week, as it stands now.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, Sum

from escalations.choices import BreachCause, ClockKind, EventKind, HandoffStatus, Sentiment, SeverityKey
from escalations.models import (
    Breach,
    BreachCauseOption,
    CaseEvent,
    CustomerUpdate,
    Escalation,
    HandoffPacket,
    Incident,
    ResolveCycle,
)
from escalations.sla.weeks import Week


def distribution(values: list[int]) -> dict[str, Any]:
    """count, median and 90th percentile (linear interpolation, like percentile_cont)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"count": 0, "median_seconds": None, "p90_seconds": None}
    p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[-1]
    return {"count": len(values), "median_seconds": round(statistics.median(values)), "p90_seconds": round(p90)}


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _grouped(rows: list[dict], key: str, choices: list[str]) -> dict[str, int]:
    out = dict.fromkeys(choices, 0)
    for row in rows:
        out[row[key]] = row["n"]
    return out


def _by_cause(breaches) -> dict[str, int]:
    """Breach counts by confirmed cause code, every cause on the list (and "unknown")
    present, those with a breach too even when since removed from the list."""
    out = dict.fromkeys(BreachCauseOption.objects.values_list("code", flat=True), 0)
    out[BreachCause.UNKNOWN] = 0
    for row in breaches.values("cause").annotate(n=Count("id")):
        out[row["cause"] or BreachCause.UNKNOWN] = row["n"]
    return out


def _breaches_still_unmet_at(breaches, end: datetime) -> dict[str, int]:
    """Breaches of the week whose promise was still unkept at its end: a case not yet
    acknowledged, a resolve cycle not yet ended, an update not yet posted. They count
    as missed in adherence, so a breach always lowers it (one kept late is already
    counted as missed by its acknowledgement, cycle or late update)."""
    cycle_ended = ResolveCycle.objects.filter(
        incident_id=OuterRef("incident_id"), number=OuterRef("cycle"), ended_at__lt=end
    )
    update_posted = CustomerUpdate.objects.filter(
        incident_id=OuterRef("incident_id"), posted_at__gte=OuterRef("due_at"), posted_at__lt=end
    )
    return breaches.aggregate(
        ack=Count(
            "id",
            filter=Q(kind=ClockKind.ACK)
            & (Q(incident__acknowledged_at__isnull=True) | Q(incident__acknowledged_at__gte=end)),
        ),
        resolve=Count("id", filter=Q(kind=ClockKind.RESOLVE) & ~Exists(cycle_ended)),
        update=Count("id", filter=Q(kind=ClockKind.UPDATE) & ~Exists(update_posted)),
    )


def weekly_metrics(week: Week) -> dict[str, Any]:
    """Every weekly-review figure for ``week`` (about a dozen queries, whatever the volume)."""
    span = (week.starts_at, week.ends_at)

    # Half-open ranges [start, end): an event at Monday 00:00 belongs to the new week.
    def in_week(field: str) -> Q:
        return Q(**{f"{field}__gte": span[0], f"{field}__lt": span[1]})

    real_cases = Incident.objects.real()
    opened = real_cases.filter(in_week("reported_at"))
    opened_totals = opened.aggregate(n=Count("id"), arr=Sum("arr_at_risk"))
    by_severity = _grouped(
        list(opened.order_by().values("severity").annotate(n=Count("id"))), "severity", SeverityKey.values
    )
    sentiment = _grouped(
        list(opened.order_by().values("sentiment").annotate(n=Count("id"))), "sentiment", Sentiment.values
    )

    acks = list(
        CaseEvent.objects.filter(in_week("at"), kind=EventKind.ACKNOWLEDGED, incident__is_drill=False).values_list(
            "new__tta_seconds", "new__met"
        )
    )
    cycles = list(
        ResolveCycle.objects.filter(in_week("ended_at"), incident__is_drill=False).values_list("elapsed_seconds", "met")
    )
    totals = list(
        ResolveCycle.objects.filter(
            incident__in=real_cases.filter(in_week("resolved_at")).values("id"), elapsed_seconds__isnull=False
        )
        .order_by()
        .values("incident")
        .annotate(total=Sum("elapsed_seconds"))
        .values_list("total", flat=True)
    )
    updates = CustomerUpdate.objects.filter(in_week("posted_at"), incident__is_drill=False).aggregate(
        posted=Count("id"), late=Count("id", filter=Q(was_late=True))
    )
    reopens = CaseEvent.objects.filter(in_week("at"), kind=EventKind.REOPENED, incident__is_drill=False).count()
    breaches = Breach.objects.filter(in_week("detected_at"), incident__is_drill=False).order_by()
    by_kind = _grouped(list(breaches.values("kind").annotate(n=Count("id"))), "kind", ClockKind.values)
    by_cause = _by_cause(breaches)
    unmet = _breaches_still_unmet_at(breaches, span[1])
    handoffs = HandoffPacket.objects.filter(incident__is_drill=False).aggregate(
        offered=Count("id", filter=in_week("offered_at")),
        accepted=Count("id", filter=in_week("responded_at") & Q(status=HandoffStatus.ACCEPTED)),
        rejected=Count("id", filter=in_week("responded_at") & Q(status=HandoffStatus.REJECTED)),
        ping_pong=Count("id", filter=in_week("offered_at") & Q(is_ping_pong=True)),
    )
    executive = Escalation.objects.filter(in_week("created_at"), is_executive=True, incident__is_drill=False).count()

    acks_met = sum(1 for _, met in acks if met)
    cycles_ended = [c for c in cycles if c[1] is not None]
    return {
        "week": week.label,
        "starts_at": week.starts_at,
        "ends_at": week.ends_at,
        "cases_opened": opened_totals["n"],
        "cases_opened_by_severity": by_severity,
        "tta": distribution([int(v) for v, _ in acks if v is not None]),
        "ttr_cycle": distribution([v for v, _ in cycles if v is not None]),
        "ttr_total": distribution(totals),
        "sla_adherence": {
            "acknowledge_pct": _pct(acks_met, len(acks) + unmet["ack"]),
            "resolve_pct": _pct(sum(1 for _, met in cycles_ended if met), len(cycles_ended) + unmet["resolve"]),
            "update_pct": _pct(updates["posted"] - updates["late"], updates["posted"] + unmet["update"]),
        },
        "updates": {"posted": updates["posted"], "late": updates["late"]},
        "reopens": reopens,
        "breaches": {"total": sum(by_kind.values()), "by_kind": by_kind, "by_cause": by_cause},
        "handoffs": handoffs,
        "arr_at_risk_total": (opened_totals["arr"] or Decimal("0")).quantize(Decimal("0.01")),
        "executive_escalations": executive,
        "sentiment": sentiment,
    }
