"""The kept figures: every weekly figure whose inputs are in the past once its week has
ended, computed for a span of weeks by PostgreSQL (one grouped query per family over
the whole span, one filtered aggregate per severity; percentiles are
``percentile_cont``), as one JSON slice per week. ``services.review_weeks`` keeps the
slices (``ReviewWeek``), from the beat; no request computes them. The meaning of each
figure is in ``reporting.definitions`` under the same name.

Severity: a breach counts under the severity it was recorded with; every other figure
under the case's severity when the week is computed. Drill cases never count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    OuterRef,
    Q,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncWeek

from escalations.choices import ClockKind, EventKind, HandoffStatus, Sentiment, SeveritySource, Stage
from escalations.models import (
    Breach,
    CaseEvent,
    CustomerUpdate,
    Escalation,
    HandoffPacket,
    Incident,
    ResolveCycle,
)
from escalations.reporting import sql
from escalations.reporting.aggregates import (
    Seconds,
    blank,
    count,
    counted,
    distribution,
    distribution_aggregates,
    grouped,
    in_range,
    pct,
    per_severity,
    pick,
    ratio,
    series,
)
from escalations.reporting.definitions import ALL, SEVERITY_KEYS
from escalations.selectors.handoffs import PING_PONG_WINDOW, ping_pong_exists
from escalations.selectors.valves import service_credits_totals
from escalations.sla.weeks import Week

# Money is kept as text ("1234.50"): JSON has no decimals.
CENTS = Decimal("0.01")


def weeks_computed(span: list[Week]) -> dict[datetime, dict]:
    """The kept figures of the weeks of ``span``, aggregated now, as week start → slice.
    Runs inside the caller's transaction."""
    with connection.cursor() as cursor:
        # PostgreSQL's JIT would compile each grouped query once its cost estimate passes
        # its threshold; compiling costs more than it saves here (~80 ms a query,
        # bench/review_bench.py), so it is off for this transaction only.
        cursor.execute("SET LOCAL jit = off")
    tree = _tree(_rows(span), span)
    return {w.starts_at: pick(tree, i) for i, w in enumerate(span)}


def blank_week() -> dict:
    """A slice of the kept figures' shape with every value None: a week not kept yet."""
    empty = Week(label="", starts_at=datetime(1970, 1, 5, tzinfo=UTC), ends_at=datetime(1970, 1, 12, tzinfo=UTC))
    return blank(pick(_tree(_NO_ROWS, [empty]), 0))


def _rows(span: list[Week]) -> dict:
    """Every family's grouped rows over ``span``."""
    start, end = span[0].starts_at, span[-1].ends_at
    real = Q(incident__is_drill=False)
    sev = "incident__severity"

    # Acknowledgements, reopens and severities set by a person: one pass over the events.
    tta = Cast(KeyTextTransform("tta_seconds", "new"), FloatField())
    changed = Q(kind=EventKind.SEVERITY_CHANGED, new__source=SeveritySource.MANUAL.value)
    events = grouped(
        CaseEvent.objects.filter(
            in_range("at", start, end), real, Q(kind__in=[EventKind.ACKNOWLEDGED, EventKind.REOPENED]) | changed
        ),
        "at",
        {
            **distribution_aggregates("tta", tta, sev, Q(kind=EventKind.ACKNOWLEDGED)),
            **per_severity(
                sev,
                ack_met=lambda c: count(c, Q(kind=EventKind.ACKNOWLEDGED, new__met=True)),
                reopens=lambda c: count(c, Q(kind=EventKind.REOPENED)),
                manual=lambda c: count(c, changed),
            ),
        },
        span,
    )
    cycles = grouped(
        ResolveCycle.objects.filter(in_range("ended_at", start, end), real),
        "ended_at",
        {
            **distribution_aggregates("ttr", "elapsed_seconds", sev),
            **per_severity(sev, cycles_met=lambda c: count(c, Q(met=True))),
        },
        span,
    )
    updates = counted(
        CustomerUpdate.objects.filter(in_range("posted_at", start, end), real),
        "posted_at",
        sev,
        {"posted": Count("id"), "late": Count("id", filter=Q(was_late=True))},
        span,
    )
    # Breaches, with the ones whose promise was still unkept at their week's end (they
    # count as missed in adherence, so a breach always lowers it).
    week_end = ExpressionWrapper(TruncWeek("detected_at", tzinfo=UTC) + timedelta(days=7), output_field=DateTimeField())
    breach_qs = Breach.objects.filter(in_range("detected_at", start, end), real).annotate(week_end=week_end)
    cycle_ended = ResolveCycle.objects.filter(
        incident_id=OuterRef("incident_id"), number=OuterRef("cycle"), ended_at__lt=OuterRef("week_end")
    )
    update_posted = CustomerUpdate.objects.filter(
        incident_id=OuterRef("incident_id"), posted_at__gte=OuterRef("due_at"), posted_at__lt=OuterRef("week_end")
    )
    breaches = counted(
        breach_qs,
        "detected_at",
        "severity",
        {
            "total": Count("id"),
            **{f"kind_{kind}": Count("id", filter=Q(kind=kind)) for kind in ClockKind.values},
            "unmet_ack": Count(
                "id",
                filter=Q(kind=ClockKind.ACK)
                & (Q(incident__acknowledged_at__isnull=True) | Q(incident__acknowledged_at__gte=F("week_end"))),
            ),
            "unmet_resolve": Count("id", filter=Q(kind=ClockKind.RESOLVE) & ~Exists(cycle_ended)),
            "unmet_update": Count("id", filter=Q(kind=ClockKind.UPDATE) & ~Exists(update_posted)),
        },
        span,
    )
    # Handoffs offered in each week, and how many were ping-pong: the rule's own
    # expression (selectors.handoffs), evaluated once per row.
    offered_qs = HandoffPacket.objects.filter(in_range("offered_at", start, end), real)
    offered = counted(
        offered_qs,
        "offered_at",
        sev,
        {"offered": Count("id"), "ping_pong": Count("id", filter=Q(ping_pong_exists(PING_PONG_WINDOW)))},
        span,
    )
    answered = counted(
        HandoffPacket.objects.filter(
            in_range("responded_at", start, end), real, status__in=[HandoffStatus.ACCEPTED, HandoffStatus.REJECTED]
        ),
        "responded_at",
        sev,
        {
            "accepted": Count("id", filter=Q(status=HandoffStatus.ACCEPTED)),
            "rejected": Count("id", filter=Q(status=HandoffStatus.REJECTED)),
        },
        span,
    )
    accepts = grouped(
        offered_qs.filter(status=HandoffStatus.ACCEPTED, responded_at__isnull=False),
        "offered_at",
        distribution_aggregates("accept", Seconds(F("responded_at") - F("offered_at")), sev),
        span,
    )
    executive = counted(
        Escalation.objects.filter(in_range("created_at", start, end), real, is_executive=True),
        "created_at",
        sev,
        {"n": Count("id")},
        span,
    )
    opened = list(
        Incident.objects.real()
        .filter(in_range("reported_at", start, end))
        .annotate(week=TruncWeek("reported_at", tzinfo=UTC))
        .order_by()
        .values("week", "severity", "sentiment")
        .annotate(n=Count("id"), arr=Sum("arr_at_risk"))
    )
    return {
        "events": events,
        "cycles": cycles,
        "updates": updates,
        "breaches": breaches,
        "offered": offered,
        "answered": answered,
        "accepts": accepts,
        "executive": executive,
        "opened": opened,
        "resolved": sql.resolved_cases(span),
        "stages": sql.stage_ownership(span),
        "open_at_end": sql.open_at_end(span),
        "credits": service_credits_totals(start, end),
    }


# What _tree reads for a span in which nothing happened (the shape of a blank week).
_NO_ROWS: dict = {
    **{family: [{}] for family in ("events", "cycles", "updates", "breaches", "offered", "answered", "accepts")},
    "executive": [{}],
    "opened": [],
    "resolved": None,
    "stages": None,
    "open_at_end": None,
    "credits": None,
}


def _money(value: Decimal | None) -> str:
    return str((value or Decimal("0")).quantize(CENTS))


def _opened(rows: list[dict], span: list[Week]) -> dict:
    index = {w.starts_at: i for i, w in enumerate(span)}
    n = len(span)
    out = {
        "cases": {key: [0] * n for key in SEVERITY_KEYS},
        "arr_at_risk": {key: [Decimal("0")] * n for key in SEVERITY_KEYS},
        "sentiment": {key: {s: [0] * n for s in Sentiment.values} for key in SEVERITY_KEYS},
    }
    for row in rows:
        i = index.get(row["week"])
        if i is None:  # a week between two weeks of the span, not asked for
            continue
        for key in (ALL, row["severity"]):
            out["cases"][key][i] += row["n"]
            out["arr_at_risk"][key][i] += row["arr"] or Decimal("0")
            out["sentiment"][key][row["sentiment"]][i] += row["n"]
    return out


def _cases_and_arr(family: dict | None, n: int) -> dict:
    """Cases, ARR (as text) and sentiment per severity; zeros when not computed."""
    if family is None:
        family = {
            "cases": {key: [0] * n for key in SEVERITY_KEYS},
            "arr_at_risk": {key: [None] * n for key in SEVERITY_KEYS},
            "sentiment": {key: {s: [0] * n for s in Sentiment.values} for key in SEVERITY_KEYS},
        }
    return {**family, "arr_at_risk": {key: [_money(v) for v in arr] for key, arr in family["arr_at_risk"].items()}}


def _tree(rows: dict, span: list[Week]) -> dict:
    """The series tree: nested dicts whose leaves are lists in ``span`` order (JSON, so
    that a week's slice can be kept)."""
    n = len(span)
    zeros = [0] * n
    resolved = rows["resolved"] or {
        "cases": dict.fromkeys(SEVERITY_KEYS, zeros),
        "handoffs": dict.fromkeys(SEVERITY_KEYS, zeros),
        "ttr_total": dict.fromkeys(SEVERITY_KEYS, {"count": zeros, "median": [None] * n, "p90": [None] * n}),
    }
    events, cycles, updates, breaches = rows["events"], rows["cycles"], rows["updates"], rows["breaches"]
    tree: dict = {
        "tta": {}, "ttr_cycle": {}, "ttr_total": resolved["ttr_total"], "adherence": {}, "updates": {},
        "reopens": {}, "reopen_rate": {}, "breaches": {}, "handoffs": {}, "time_to_accept": {},
        "executive_escalations": {}, "severity_set_by_hand": {},
    }  # fmt: skip
    for key in SEVERITY_KEYS:
        tta = tree["tta"][key] = distribution(events, "tta", key)
        ttr = tree["ttr_cycle"][key] = distribution(cycles, "ttr", key)
        posted, late = series(updates, "posted", key), series(updates, "late", key)
        tree["updates"][key] = {"posted": posted, "late": late}
        reopens = tree["reopens"][key] = series(events, "reopens", key)
        ack_met, cycles_met = series(events, "ack_met", key), series(cycles, "cycles_met", key)
        unmet = {k: series(breaches, f"unmet_{k}", key) for k in ("ack", "resolve", "update")}
        acks, ended = tta["count"], ttr["count"]
        tree["adherence"][key] = {
            "ack": [pct(ack_met[i], acks[i] + unmet["ack"][i]) for i in range(n)],
            "resolve": [pct(cycles_met[i], ended[i] + unmet["resolve"][i]) for i in range(n)],
            "update": [pct(posted[i] - late[i], posted[i] + unmet["update"][i]) for i in range(n)],
        }
        tree["reopen_rate"][key] = [ratio(reopens[i], ended[i]) for i in range(n)]
        tree["breaches"][key] = {"total": series(breaches, "total", key)} | {
            kind: series(breaches, f"kind_{kind}", key) for kind in ClockKind.values
        }
        offered = series(rows["offered"], "offered", key)
        pings = series(rows["offered"], "ping_pong", key)
        cases, case_handoffs = resolved["cases"][key], resolved["handoffs"][key]
        tree["handoffs"][key] = {
            "offered": offered,
            "accepted": series(rows["answered"], "accepted", key),
            "rejected": series(rows["answered"], "rejected", key),
            "ping_pong": pings,
            "ping_pong_rate": [pct(pings[i], offered[i]) for i in range(n)],
            "cases_resolved": cases,
            "per_case": [ratio(case_handoffs[i], cases[i]) for i in range(n)],
        }
        tree["time_to_accept"][key] = distribution(rows["accepts"], "accept", key)
        tree["executive_escalations"][key] = series(rows["executive"], "n", key)
        tree["severity_set_by_hand"][key] = series(events, "manual", key)
    tree["stage_ownership"] = rows["stages"] or {
        stage: {"count": zeros, "median": [None] * n, "p90": [None] * n} for stage in Stage.values
    }
    tree["opened"] = _cases_and_arr(_opened(rows["opened"], span), n)
    tree["open_at_end"] = _cases_and_arr(rows["open_at_end"], n)
    # service_credits_totals lists every week of its range; the span may skip some.
    credits = {c.week: c for c in rows["credits"] or []}
    weeks = [credits.get(w.starts_at.date()) for w in span]
    tree["credits"] = {
        "requested_count": [c.requested_count if c else 0 for c in weeks],
        "requested_amount": [_money(c.requested_amount if c else None) for c in weeks],
        "approved_count": [c.approved_count if c else 0 for c in weeks],
        "approved_amount": [_money(c.approved_amount if c else None) for c in weeks],
    }
    return tree
