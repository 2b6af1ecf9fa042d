"""The weekly figures the ORM would compute badly, as raw SQL: stage ownership (a
LATERAL lookup of each stay's entry on the case's timeline index), the cases resolved in
each week (their time over every cycle and their handoffs, one row per case and week),
and the cases open at each week's end (index-only scans). Each returns rows keyed by
week label, over every week of the span at once."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

from django.db import connection

from escalations.choices import EventKind, Sentiment, Stage
from escalations.reporting.aggregates import whole_seconds
from escalations.reporting.definitions import ALL, SEVERITY_KEYS
from escalations.sla.weeks import Week, week_label

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


def stage_ownership(weeks: list[Week]) -> dict[str, dict[str, list]]:
    """Each stay in a stage that ended in ``weeks``: entered when the case opened,
    was moved into the stage, accepted into it by a handoff or reopened; left when it
    moved on or was resolved. The stage left is named on a stage change; on a resolve it
    is the last stage the case was moved into (triage when it never moved)."""
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
            "median": [whole_seconds(c[1]) for c in cells],
            "p90": [whole_seconds(c[2]) for c in cells],
        }
    return out


# One row per case and week in which a resolve cycle of it ended (its last cycle to end in
# that week): the counted time of every cycle up to that one, and the handoffs offered on
# the case before that resolve. Grouped per severity and over all (GROUPING SETS: the
# percentiles of all severities cannot be merged from theirs).
RESOLVED_SQL = """
SELECT x.week, x.severity, count(*) AS cases, sum(x.handoffs) AS handoffs,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY x.total) AS p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY x.total) AS p90
FROM (
    SELECT DISTINCT ON (c.incident_id, date_trunc('week', c.ended_at AT TIME ZONE 'UTC'))
           date_trunc('week', c.ended_at AT TIME ZONE 'UTC') AS week, i.severity,
           (SELECT sum(p.elapsed_seconds) FROM escalations_resolvecycle p
             WHERE p.incident_id = c.incident_id AND p.number <= c.number) AS total,
           (SELECT count(*) FROM escalations_handoffpacket h
             WHERE h.incident_id = c.incident_id AND h.offered_at < c.ended_at) AS handoffs
    FROM escalations_resolvecycle c
    JOIN escalations_incident i ON i.id = c.incident_id AND NOT i.is_drill
    WHERE c.ended_at >= %(start)s AND c.ended_at < %(end)s
    ORDER BY c.incident_id, date_trunc('week', c.ended_at AT TIME ZONE 'UTC'), c.number DESC
) x
GROUP BY GROUPING SETS ((x.week, x.severity), (x.week))
"""


def resolved_cases(weeks: list[Week]) -> dict[str, dict[str, list]]:
    """Per severity: the cases resolved in each week, their handoffs, and the
    distribution of their time to resolve over every cycle (``ttr_total``)."""
    with connection.cursor() as cursor:
        cursor.execute(RESOLVED_SQL, {"start": weeks[0].starts_at, "end": weeks[-1].ends_at})
        found = {(week_label(row[0].replace(tzinfo=UTC)), row[1] or ALL): row[2:] for row in cursor.fetchall()}
    out: dict[str, dict[str, list]] = {"cases": {}, "handoffs": {}, "ttr_total": {}}
    for key in SEVERITY_KEYS:
        cells = [found.get((w.label, key), (0, 0, None, None)) for w in weeks]
        out["cases"][key] = [c[0] for c in cells]
        out["handoffs"][key] = [int(c[1]) for c in cells]
        out["ttr_total"][key] = {
            "count": [c[0] for c in cells],
            "median": [whole_seconds(c[2]) for c in cells],
            "p90": [whole_seconds(c[3]) for c in cells],
        }
    return out


# Open at a week's end: reported before it and never resolved, or resolved since. Two
# branches of a UNION ALL per week rather than an OR, so that each is an index-only scan
# of incident_resolved_idx (an OR of the two turns into a scan of every case).
OPEN_BRANCHES = """
SELECT %(end{i})s::timestamptz AS week_end, severity, sentiment, count(*) AS n, sum(arr_at_risk) AS arr
FROM escalations_incident
WHERE NOT is_drill AND reported_at < %(end{i})s AND {condition}
GROUP BY severity, sentiment
"""


def open_at_end(weeks: list[Week]) -> dict[str, dict]:
    """Per severity: the cases open at each week's end, their ARR at risk and their
    customer sentiment (ARR and sentiment as recorded now: when the beat keeps a week,
    minutes after its end)."""
    branches, params = [], {}
    for i, week in enumerate(weeks):
        params[f"end{i}"] = week.ends_at
        for condition in ("resolved_at IS NULL", f"resolved_at >= %(end{i})s"):
            branches.append(OPEN_BRANCHES.format(i=i, condition=condition))
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(f"({b})" for b in branches), params)
        rows = cursor.fetchall()
    index = {w.ends_at: i for i, w in enumerate(weeks)}
    n = len(weeks)
    zero = Decimal("0.00")
    out: dict[str, dict] = {
        "cases": {key: [0] * n for key in SEVERITY_KEYS},
        "arr_at_risk": {key: [zero] * n for key in SEVERITY_KEYS},
        "sentiment": {key: {s: [0] * n for s in Sentiment.values} for key in SEVERITY_KEYS},
    }
    for week_end, severity, sentiment, count, arr in rows:
        i = index[week_end.astimezone(UTC)]
        for key in (ALL, severity):
            out["cases"][key][i] += count
            out["arr_at_risk"][key][i] += arr or zero
            out["sentiment"][key][sentiment][i] += count
    return out
