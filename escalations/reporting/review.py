"""The weekly review page's figures: the chosen ISO week and the 12 before it, per
severity and over all severities, with the definitions of escalations.reporting.metrics (the
one-week API figures) applied to every week.

Every figure is computed by PostgreSQL: each family of figures (acknowledgements and
reopens; resolve cycles; customer updates; breaches; handoffs; times to accept; handoffs
per case; stage ownership; executive escalations) is one query over all the weeks it
computes, grouped by ISO week (``date_trunc('week')`` in UTC), with one
filtered aggregate per severity. Percentiles are ``percentile_cont`` (linear
interpolation) in the database, so the page reads aggregates, never rows, and its query
count does not depend on the number of cases or weeks. Drill cases never count.

Severity: a breach counts under the severity it was recorded with; every other figure
under the case's severity when the week is computed (a case upgraded from S3 to S2
counts as S2).

A complete week's series are computed once and kept (``ReviewWeek``): its events are in
the past, and aggregating a quarter of the cases on every view is what the 1-second
budget at a million cases a year rules out (bench/review_bench.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, TruncWeek
from django.utils import timezone

from escalations.choices import (
    BreachCause,
    ClockKind,
    EventKind,
    HandoffStatus,
    Sentiment,
    SeverityKey,
    SeveritySource,
    Stage,
    ValveStatus,
)
from escalations.models import (
    Breach,
    CaseEvent,
    CustomerUpdate,
    Escalation,
    ExecutiveEscalationRequest,
    HandoffPacket,
    Incident,
    ResolveCycle,
    ReviewWeek,
    ServiceCreditRequest,
)
from escalations.selectors.audit import DEFAULT_PING_PONG_WINDOW
from escalations.selectors.handoffs import ping_pong_exists
from escalations.sla import weeks as iso_weeks
from escalations.sla.weeks import Week, week_label, week_parse

REVIEW_WEEKS = 13
# The shape of ReviewWeek.figures: kept weeks of another version are computed again.
ROLLUP_VERSION = 1
ALL = "all"
SEVERITY_KEYS = (ALL, *SeverityKey.values)
SEVERITY_LABELS = {ALL: "All severities", **dict(SeverityKey.choices)}
# The rows of each escape-valve list shown on the page: a week has a handful; the cap
# keeps a pathological week's page bounded.
VALVE_ROWS = 200

# The page footnote: each definition, as the figures below compute it.
DEFINITIONS = (
    ("Time to acknowledge (TTA)", "the acknowledge clock's counted time (pauses and off-hours excluded, as the "
     "clock counts it) of the cases acknowledged in the week; median and 90th percentile."),
    ("Time to resolve (TTR)", "the counted resolve time of each resolve cycle that ended in the week; a reopened "
     "case contributes one value per cycle."),
    ("Acknowledge adherence", "acknowledgements within target ÷ (the week's acknowledgements + its acknowledge "
     "breaches of cases still unacknowledged at the week's end)."),
    ("Resolve adherence", "resolve cycles that met their target ÷ (the cycles that ended in the week + its resolve "
     "breaches of cycles still open at the week's end)."),
    ("Update adherence", "customer updates posted on time ÷ (the week's updates + its update breaches with no update "
     "posted by the week's end). A breach therefore always lowers adherence."),
    ("Breaches", "detected in the week, by clock and by the cause given in review (a Pareto: largest first, with "
     "the cumulative share)."),
    ("Reopen rate", "reopens in the week ÷ resolve cycles that ended in the week."),
    ("Handoffs per case", "handoffs offered on the cases resolved in the week, over their whole life, ÷ those "
     "cases."),
    ("Ping-pong rate", "handoffs offered in the week that return the case to a person or team it left within "
     "the handoff audit's window (24 hours) ÷ the week's handoffs."),
    ("Time to accept a handoff", "offer to acceptance, for the handoffs offered in the week that were accepted."),
    ("Stage ownership", "from a case entering a stage (opened, moved by its owner, an accepted handoff into "
     "another stage, or reopened) to leaving it (moved on or resolved), for the stays that ended in the week."),
    ("Open at the week's end", "cases reported before the week's end and not resolved by then; their ARR at "
     "risk and customer sentiment as recorded now."),
    ("Executive interrupts", "escalations that reached an executive rung in the week."),
    ("Escape valves", "executive escalations reached and asked for (with the Manager's answer), service credits "
     "asked for (with the answer), and severities set by a person instead of the trigger rules (listed: at intake "
     "or later; counted per week: changes after intake)."),
    ("Severity", "a breach counts under the severity it was recorded with; every other figure under the case's "
     "severity when the week's figures were computed. Drill cases never count."),
    ("Kept weeks", "a complete week's figures are computed once, at the first view after it ends, and kept; the "
     "breaches by cause, the open cases and the escape valves are always read as they are now."),
)  # fmt: skip


class Percentile(Aggregate):
    """``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``: PostgreSQL's
    continuous percentile (linear interpolation between the two nearest values)."""

    function = "percentile_cont"
    name = "Percentile"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


class Seconds(Func):
    """A duration as seconds (``EXTRACT(EPOCH FROM …)``)."""

    template = "EXTRACT(EPOCH FROM (%(expressions)s))"
    output_field = FloatField()


def last_complete_week(now: datetime | None = None) -> Week:
    """The ISO week before the one ``now`` (UTC) falls in."""
    return iso_weeks.last_complete_week(now or timezone.now())


def review_weeks(week: Week, weeks: int = REVIEW_WEEKS) -> list[Week]:
    """``week`` and the ``weeks - 1`` before it, oldest first."""
    return iso_weeks.weeks_ending(week, weeks)


def _in(field_name: str, start: datetime, end: datetime) -> Q:
    # Half-open ranges [start, end): an event at Monday 00:00 belongs to the new week.
    return Q(**{f"{field_name}__gte": start, f"{field_name}__lt": end})


def _per_severity(severity_field: str, **makers: Callable[[Q], Aggregate]) -> dict[str, Aggregate]:
    """One filtered aggregate per severity and one over all: ``{name}__{severity}``."""
    out = {}
    for key in SEVERITY_KEYS:
        condition = Q() if key == ALL else Q(**{severity_field: key})
        for name, make in makers.items():
            out[f"{name}__{key}"] = make(condition)
    return out


def _count(condition: Q, extra: Q | None = None) -> Count:
    both = condition & extra if extra is not None else condition
    return Count("id", filter=both) if both else Count("id")


def _pct(part: int | None, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _ratio(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 2) if whole else None


def _seconds(value: float | None) -> int | None:
    return None if value is None else round(value)


def _by_week(rows: list[dict], weeks: list[Week]) -> list[dict]:
    """The grouped rows in week order; a week without rows reads as zeros and nulls."""
    found = {week_label(row["week"]): row for row in rows}
    return [found.get(w.label, {}) for w in weeks]


def _series(rows: list[dict], name: str, key: str, default: Any = 0) -> list:
    return [row.get(f"{name}__{key}", default) if row else default for row in rows]


@dataclass
class Distribution:
    count: list[int]
    median: list[int | None]
    p90: list[int | None]


@dataclass
class ReviewFigures:
    """Every figure of the review page. Per-week lists run oldest first and line up with
    ``weeks``; dicts keyed by severity hold ``ALL`` and each SeverityKey."""

    week: Week
    weeks: list[Week]
    tta: dict[str, Distribution]
    ttr: dict[str, Distribution]
    adherence: dict[str, dict[str, list[float | None]]]  # clock → severity → weeks
    acknowledged: dict[str, list[int]]
    cycles_ended: dict[str, list[int]]
    updates_posted: dict[str, list[int]]
    updates_late: dict[str, list[int]]
    reopens: dict[str, list[int]]
    reopen_rate: dict[str, list[float | None]]
    breaches: dict[str, dict[str, list[int]]]  # severity → clock kind (and "total") → weeks
    pareto_causes: list[dict]
    pareto_clocks: list[dict]
    handoffs_offered: dict[str, list[int]]
    handoffs_per_case: dict[str, list[float | None]]
    ping_pong: dict[str, list[int]]
    ping_pong_rate: dict[str, list[float | None]]
    time_to_accept: dict[str, Distribution]
    stage_ownership: dict[str, Distribution]  # stage → weeks, over all severities
    open_at_end: dict[str, dict[str, Any]]  # severity → {cases, arr}
    sentiment_at_end: dict[str, int]
    executive_per_week: dict[str, list[int]]
    manual_severity_per_week: dict[str, list[int]]  # severity changes by a person
    executive_escalations: list[Escalation] = field(default_factory=list)
    severity_overrides: list[CaseEvent] = field(default_factory=list)
    executive_requests: list[ExecutiveEscalationRequest] = field(default_factory=list)
    credit_requests: list[ServiceCreditRequest] = field(default_factory=list)

    @property
    def credits_asked(self) -> Decimal:
        return sum((r.amount for r in self.credit_requests), Decimal("0.00"))

    @property
    def credits_approved(self) -> Decimal:
        return sum((r.amount for r in self.credit_requests if r.status == ValveStatus.APPROVED), Decimal("0.00"))

    @property
    def labels(self) -> list[str]:
        return [w.label for w in self.weeks]

    def chart_data(self, severity: str = ALL) -> dict[str, Any]:
        """What the page's charts draw (minutes and percentages), for json_script."""

        def minutes(values: list[int | None]) -> list[float | None]:
            return [None if v is None else round(v / 60, 1) for v in values]

        return {
            "labels": self.labels,
            "severity": SEVERITY_LABELS[severity],
            "tta_p50": minutes(self.tta[severity].median),
            "tta_p90": minutes(self.tta[severity].p90),
            "ttr_p50": minutes(self.ttr[severity].median),
            "ttr_p90": minutes(self.ttr[severity].p90),
            "adherence_ack": self.adherence["ack"][severity],
            "adherence_resolve": self.adherence["resolve"][severity],
            "adherence_update": self.adherence["update"][severity],
            "pareto_labels": [row["label"] for row in self.pareto_causes],
            "pareto_counts": [row["count"] for row in self.pareto_causes],
            "pareto_cumulative": [row["cumulative_pct"] for row in self.pareto_causes],
        }


def _distribution(rows: list[dict], prefix: str, key: str) -> dict[str, list]:
    return {
        "count": _series(rows, f"{prefix}_n", key),
        "median": [_seconds(v) for v in _series(rows, f"{prefix}_p50", key, None)],
        "p90": [_seconds(v) for v in _series(rows, f"{prefix}_p90", key, None)],
    }


def _distribution_aggregates(prefix: str, value, severity_field: str, extra: Q | None = None) -> dict:
    return _per_severity(
        severity_field,
        **{
            f"{prefix}_n": lambda c: _count(c, extra),
            f"{prefix}_p50": lambda c: Percentile(value, 0.5, filter=c & extra if extra is not None else c or None),
            f"{prefix}_p90": lambda c: Percentile(value, 0.9, filter=c & extra if extra is not None else c or None),
        },
    )


def _grouped(qs, date_field: str, aggregates: dict, weeks: list[Week]) -> list[dict]:
    rows = list(qs.annotate(week=TruncWeek(date_field, tzinfo=UTC)).order_by().values("week").annotate(**aggregates))
    return _by_week(rows, weeks)


def _counted(qs, date_field: str, severity_field: str, counts: dict, weeks: list[Week]) -> list[dict]:
    """Counts only, grouped by week and severity (each row's conditions evaluated once,
    not once per severity); the all-severities figure is their sum."""
    rows = list(
        qs.annotate(week=TruncWeek(date_field, tzinfo=UTC), sev=F(severity_field))
        .order_by()
        .values("week", "sev")
        .annotate(**counts)
    )
    merged: dict[datetime, dict] = {}
    for row in rows:
        out = merged.setdefault(row["week"], {"week": row["week"]})
        for name in counts:
            out[f"{name}__{row['sev']}"] = row[name]
            out[f"{name}__{ALL}"] = out.get(f"{name}__{ALL}", 0) + row[name]
    return _by_week(list(merged.values()), weeks)


def _pareto(counts: dict[str, int], labels: dict[str, str]) -> list[dict]:
    """Largest first (ties by label), with each row's cumulative share of the total."""
    total = sum(counts.values())
    rows, running = [], 0
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(labels[kv[0]]))):
        if not n:
            continue
        running += n
        rows.append({"key": key, "label": str(labels[key]), "count": n, "cumulative_pct": _pct(running, total)})
    return rows


STAGE_SQL = """
SELECT date_trunc('week', x.left_at AT TIME ZONE 'UTC') AS week, x.stage, count(*) AS n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY x.seconds) AS p90
FROM (
    SELECT e.at AS left_at,
           COALESCE(CASE WHEN e.kind <> %(resolved)s THEN e.old ->> 'stage' END, named.stage, %(first_stage)s) AS stage,
           EXTRACT(EPOCH FROM (e.at - entry.at)) AS seconds
    FROM escalations_caseevent e
    JOIN escalations_incident i ON i.id = e.incident_id AND NOT i.is_drill
    CROSS JOIN LATERAL (
        SELECT p.at FROM escalations_caseevent p
        WHERE p.incident_id = e.incident_id AND (p.at, p.id) < (e.at, e.id)
          AND (p.kind IN (%(created)s, %(stage_changed)s, %(reopened)s)
               OR (p.kind = %(accepted)s AND p.new ->> 'stage' IS DISTINCT FROM p.old ->> 'stage'))
        ORDER BY p.at DESC, p.id DESC LIMIT 1
    ) entry
    LEFT JOIN LATERAL (
        SELECT p.new ->> 'stage' AS stage FROM escalations_caseevent p
        WHERE e.kind = %(resolved)s AND p.incident_id = e.incident_id AND (p.at, p.id) < (e.at, e.id)
          AND (p.kind = %(stage_changed)s
               OR (p.kind = %(accepted)s AND p.new ->> 'stage' IS DISTINCT FROM p.old ->> 'stage'))
        ORDER BY p.at DESC, p.id DESC LIMIT 1
    ) named ON TRUE
    WHERE e.at >= %(start)s AND e.at < %(end)s
      AND (e.kind IN (%(stage_changed)s, %(resolved)s)
           OR (e.kind = %(accepted)s AND e.new ->> 'stage' IS DISTINCT FROM e.old ->> 'stage'))
) x
GROUP BY 1, 2
"""


def _stage_ownership(weeks: list[Week]) -> dict[str, dict[str, list]]:
    """Each stay in a stage that ended in ``weeks``: entered when the case opened,
    was moved into the stage, accepted into it by a handoff or reopened; left when it
    moved on or was resolved. The stage left is named on a stage change; on a resolve it
    is the last stage the case was moved into (triage when it never moved). Raw SQL: the
    entry of each exit is a LATERAL lookup on the case's timeline index, which the ORM
    would repeat once per aggregate."""
    params = {
        "start": weeks[0].starts_at,
        "end": weeks[-1].ends_at,
        "resolved": EventKind.RESOLVED.value,
        "created": EventKind.CREATED.value,
        "stage_changed": EventKind.STAGE_CHANGED.value,
        "reopened": EventKind.REOPENED.value,
        "accepted": EventKind.HANDOFF_ACCEPTED.value,
        "first_stage": Stage.TRIAGE.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(STAGE_SQL, params)
        found = {(week_label(row[0].replace(tzinfo=UTC)), row[1]): row[2:] for row in cursor.fetchall()}
    out = {}
    for stage in Stage.values:
        cells = [found.get((w.label, stage), (0, None, None)) for w in weeks]
        out[stage] = {
            "count": [c[0] for c in cells],
            "median": [_seconds(c[1]) for c in cells],
            "p90": [_seconds(c[2]) for c in cells],
        }
    return out


def review_figures(week: Week | str, weeks: int = REVIEW_WEEKS, *, now: datetime | None = None) -> ReviewFigures:
    """Every review figure for ``week`` and the ``weeks - 1`` before it, in a constant
    number of queries whatever the number of cases and weeks. A complete week's series
    are computed once and kept (``ReviewWeek``); the chosen week's Pareto, open cases
    and escape-valve lists are read live. Raises ValueError on a bad label."""
    if isinstance(week, str):
        week = week_parse(week)
    now = now or timezone.now()
    span = review_weeks(week, weeks)
    with transaction.atomic():
        tree = _kept_series(span, now)
        return _build(week, span, tree, _live(week))


def kept_weeks(span: list[Week]) -> dict[datetime, dict]:
    """The kept figures of the weeks of ``span`` (week start → one week's slice of the
    series tree), in one query."""
    return dict(
        ReviewWeek.objects.filter(week_start__in=[w.starts_at for w in span], version=ROLLUP_VERSION).values_list(
            "week_start", "figures"
        )
    )


def weeks_computed(span: list[Week]) -> dict[datetime, dict]:
    """The figures of the weeks of ``span`` aggregated now (one grouped query per figure
    family over the whole span), as week start → slice. Runs inside the caller's
    transaction."""
    with connection.cursor() as cursor:
        # PostgreSQL's JIT would compile each grouped query once its cost estimate passes
        # its threshold; compiling costs more than it saves here (~80 ms a query,
        # bench/review_bench.py), so it is off for this transaction only.
        cursor.execute("SET LOCAL jit = off")
    tree = _series_tree(span)
    return {w.starts_at: _pick(tree, i) for i, w in enumerate(span)}


def _kept_series(span: list[Week], now: datetime) -> dict:
    """The series tree of ``span``: kept weeks read, the others aggregated (never kept
    here: a page view writes nothing; ``services.review_weeks`` keeps them)."""
    stored = kept_weeks(span)
    missing = [w for w in span if w.starts_at not in stored]
    if missing:
        stored.update(weeks_computed(missing))
    return _stack([stored[w.starts_at] for w in span])


def _series_tree(span: list[Week]) -> dict:
    """The per-week series of every figure family for the weeks of ``span`` (one grouped
    query per family over its whole range), as nested dicts whose leaves are lists in
    ``span`` order: JSON, so that a week's slice can be kept (``_pick``)."""
    start, end = span[0].starts_at, span[-1].ends_at
    real = Q(incident__is_drill=False)
    sev = "incident__severity"

    # Acknowledgements, reopens and severities set by a person: one pass over the events.
    tta = Cast(KeyTextTransform("tta_seconds", "new"), FloatField())
    # Severities changed by a person (intake choices are in the chosen week's list only:
    # counting them per week would read every case-opened event of the quarter).
    changed = Q(kind=EventKind.SEVERITY_CHANGED, new__source=SeveritySource.MANUAL.value)
    events = _grouped(
        CaseEvent.objects.filter(
            _in("at", start, end),
            real,
            Q(kind__in=[EventKind.ACKNOWLEDGED, EventKind.REOPENED]) | changed,
        ),
        "at",
        {
            **_distribution_aggregates("tta", tta, sev, Q(kind=EventKind.ACKNOWLEDGED)),
            **_per_severity(
                sev,
                ack_met=lambda c: _count(c, Q(kind=EventKind.ACKNOWLEDGED, new__met=True)),
                reopens=lambda c: _count(c, Q(kind=EventKind.REOPENED)),
            ),
            **_per_severity(sev, manual=lambda c: _count(c, changed)),
        },
        span,
    )
    cycles = _grouped(
        ResolveCycle.objects.filter(_in("ended_at", start, end), real),
        "ended_at",
        {
            **_distribution_aggregates("ttr", "elapsed_seconds", sev),
            **_per_severity(sev, cycles_met=lambda c: _count(c, Q(met=True))),
        },
        span,
    )
    updates = _counted(
        CustomerUpdate.objects.filter(_in("posted_at", start, end), real),
        "posted_at",
        sev,
        {"posted": Count("id"), "late": Count("id", filter=Q(was_late=True))},
        span,
    )

    # Breaches, with the ones whose promise was still unkept at their week's end (they
    # count as missed in adherence, as in escalations.reporting.metrics).
    week_end = ExpressionWrapper(TruncWeek("detected_at", tzinfo=UTC) + timedelta(days=7), output_field=DateTimeField())
    breach_qs = Breach.objects.filter(_in("detected_at", start, end), real).annotate(week_end=week_end)
    cycle_ended = ResolveCycle.objects.filter(
        incident_id=OuterRef("incident_id"), number=OuterRef("cycle"), ended_at__lt=OuterRef("week_end")
    )
    update_posted = CustomerUpdate.objects.filter(
        incident_id=OuterRef("incident_id"), posted_at__gte=OuterRef("due_at"), posted_at__lt=OuterRef("week_end")
    )
    breaches = _counted(
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
    # Handoffs offered in each week: how many and how many were ping-pong (by the audit's
    # definition, an EXISTS evaluated once per row: grouped by severity), and the time to
    # accept of those that were accepted.
    handoff_qs = HandoffPacket.objects.filter(_in("offered_at", start, end), real)
    handoffs = _counted(
        handoff_qs,
        "offered_at",
        sev,
        {"offered": Count("id"), "ping_pong": Count("id", filter=Q(ping_pong_exists(DEFAULT_PING_PONG_WINDOW)))},
        span,
    )
    accepts = _grouped(
        handoff_qs.filter(status=HandoffStatus.ACCEPTED, responded_at__isnull=False),
        "offered_at",
        _distribution_aggregates("accept", Seconds(F("responded_at") - F("offered_at")), sev),
        span,
    )
    per_case = _counted(
        Incident.objects.real().filter(_in("resolved_at", start, end)),
        "resolved_at",
        "severity",
        {"cases": Count("id", distinct=True), "handoffs": Count("handoffs")},
        span,
    )
    stages = _stage_ownership(span)

    executive = _counted(
        Escalation.objects.filter(_in("created_at", start, end), real, is_executive=True),
        "created_at",
        sev,
        {"n": Count("id")},
        span,
    )
    adherence: dict[str, dict[str, list]] = {"ack": {}, "resolve": {}, "update": {}}
    breach_series: dict[str, dict[str, list[int]]] = {}
    result = {
        "tta": {},
        "ttr": {},
        "acknowledged": {},
        "cycles_ended": {},
        "updates_posted": {},
        "updates_late": {},
        "reopens": {},
        "reopen_rate": {},
        "handoffs_offered": {},
        "handoffs_per_case": {},
        "ping_pong": {},
        "ping_pong_rate": {},
        "time_to_accept": {},
        "executive_per_week": {},
    }
    for key in SEVERITY_KEYS:
        result["tta"][key] = _distribution(events, "tta", key)
        result["ttr"][key] = _distribution(cycles, "ttr", key)
        acks = result["acknowledged"][key] = result["tta"][key]["count"]
        ended = result["cycles_ended"][key] = result["ttr"][key]["count"]
        posted = result["updates_posted"][key] = _series(updates, "posted", key)
        late = result["updates_late"][key] = _series(updates, "late", key)
        reopens = result["reopens"][key] = _series(events, "reopens", key)
        ack_met, cycles_met = _series(events, "ack_met", key), _series(cycles, "cycles_met", key)
        unmet = {k: _series(breaches, f"unmet_{k}", key) for k in ("ack", "resolve", "update")}
        n = len(span)
        adherence["ack"][key] = [_pct(ack_met[i], acks[i] + unmet["ack"][i]) for i in range(n)]
        adherence["resolve"][key] = [_pct(cycles_met[i], ended[i] + unmet["resolve"][i]) for i in range(n)]
        adherence["update"][key] = [_pct(posted[i] - late[i], posted[i] + unmet["update"][i]) for i in range(n)]
        result["reopen_rate"][key] = [_ratio(reopens[i], ended[i]) for i in range(n)]
        breach_series[key] = {"total": _series(breaches, "total", key)} | {
            kind: _series(breaches, f"kind_{kind}", key) for kind in ClockKind.values
        }
        offered = result["handoffs_offered"][key] = _series(handoffs, "offered", key)
        pings = result["ping_pong"][key] = _series(handoffs, "ping_pong", key)
        result["ping_pong_rate"][key] = [_pct(pings[i], offered[i]) for i in range(n)]
        result["time_to_accept"][key] = _distribution(accepts, "accept", key)
        cases, case_handoffs = _series(per_case, "cases", key), _series(per_case, "handoffs", key)
        result["handoffs_per_case"][key] = [_ratio(case_handoffs[i], cases[i]) for i in range(n)]
        result["executive_per_week"][key] = _series(executive, "n", key)

    return {
        **result,
        "adherence": adherence,
        "breaches": breach_series,
        "stage_ownership": stages,
        "manual_severity_per_week": {key: _series(events, "manual", key) for key in SEVERITY_KEYS},
    }


def _live(week: Week) -> dict:
    """What is read fresh on every view of ``week``: its breaches by cause (confirmed in
    review, so they change after the week), the cases open at its end with their ARR and
    sentiment as recorded now, and the escape valves used, with who, when and why."""
    real = Q(incident__is_drill=False)
    pareto_rows = list(
        Breach.objects.filter(_in("detected_at", week.starts_at, week.ends_at), real)
        .order_by()
        .values("kind", "cause", "cause__label")
        .annotate(n=Count("id"))
    )
    # Open at the week's end: never resolved, or resolved since. Two branches of one
    # UNION ALL rather than an OR, so that each is an index-only scan of
    # incident_resolved_idx (an OR of the two turns into a scan of every case).
    reported = Incident.objects.real().filter(reported_at__lt=week.ends_at).order_by()

    def open_by(condition: Q):
        return reported.filter(condition).values("severity", "sentiment").annotate(n=Count("*"), arr=Sum("arr_at_risk"))

    open_rows = list(open_by(Q(resolved_at__isnull=True)).union(open_by(Q(resolved_at__gte=week.ends_at)), all=True))
    executive_list = list(
        Escalation.objects.filter(_in("created_at", week.starts_at, week.ends_at), real, is_executive=True)
        .select_related("incident", "actor", "acknowledged_by")
        .order_by("created_at", "id")[:VALVE_ROWS]
    )
    # A severity set by a person: changed by hand, or chosen at intake over the triggers'.
    # The very condition of the partial index event_manual_severity_idx.
    manual = Q(kind__in=[EventKind.SEVERITY_CHANGED, EventKind.CREATED], new__source=SeveritySource.MANUAL.value)
    overrides = list(
        CaseEvent.objects.filter(_in("at", week.starts_at, week.ends_at), real, manual)
        .select_related("incident", "actor")
        .order_by("at", "id")[:VALVE_ROWS]
    )
    # The escape valves under governance: executive escalations asked for, and service
    # credits asked for, in the week, with who asked, why and the Manager's answer.
    executive_requests = list(
        ExecutiveEscalationRequest.objects.filter(_in("requested_at", week.starts_at, week.ends_at), real)
        .select_related("incident", "requested_by", "decided_by")
        .order_by("requested_at", "id")[:VALVE_ROWS]
    )
    credit_requests = list(
        ServiceCreditRequest.objects.filter(_in("requested_at", week.starts_at, week.ends_at), real)
        .select_related("incident", "requested_by", "decided_by")
        .order_by("requested_at", "id")[:VALVE_ROWS]
    )
    open_at_end = {key: {"cases": 0, "arr": Decimal("0.00")} for key in SEVERITY_KEYS}
    sentiment = dict.fromkeys(Sentiment.values, 0)
    for row in open_rows:
        for key in (ALL, row["severity"]):
            open_at_end[key]["cases"] += row["n"]
            open_at_end[key]["arr"] += row["arr"] or Decimal("0")
        sentiment[row["sentiment"]] += row["n"]
    # Causes as the editable list names them; a breach nobody has reviewed yet has none.
    by_cause: dict[str, int] = {}
    cause_labels = {BreachCause.UNKNOWN.value: str(BreachCause.UNKNOWN.label)}
    by_clock = dict.fromkeys(ClockKind.values, 0)
    for row in pareto_rows:
        code = row["cause"] or BreachCause.UNKNOWN.value
        by_cause[code] = by_cause.get(code, 0) + row["n"]
        if row["cause"]:
            cause_labels[code] = row["cause__label"]
        by_clock[row["kind"]] += row["n"]
    return {
        "pareto_causes": _pareto(by_cause, cause_labels),
        "pareto_clocks": _pareto(by_clock, dict(ClockKind.choices)),
        "open_at_end": open_at_end,
        "sentiment_at_end": sentiment,
        "executive_escalations": executive_list,
        "severity_overrides": overrides,
        "executive_requests": executive_requests,
        "credit_requests": credit_requests,
    }


def _pick(tree, i: int):
    """Week ``i``'s slice of a series tree: every leaf list replaced by its item ``i``."""
    if isinstance(tree, dict):
        return {key: _pick(value, i) for key, value in tree.items()}
    return tree[i]


def _stack(slices: list):
    """The inverse of ``_pick``: week slices (oldest first) back into one series tree."""
    if isinstance(slices[0], dict):
        return {key: _stack([s[key] for s in slices]) for key in slices[0]}
    return list(slices)


DISTRIBUTIONS = ("tta", "ttr", "time_to_accept")


def _build(week: Week, span: list[Week], tree: dict, live: dict) -> ReviewFigures:
    series = dict(tree)
    for name in DISTRIBUTIONS:
        series[name] = {key: Distribution(**d) for key, d in tree[name].items()}
    series["stage_ownership"] = {stage: Distribution(**d) for stage, d in tree["stage_ownership"].items()}
    return ReviewFigures(week=week, weeks=span, **series, **live)
