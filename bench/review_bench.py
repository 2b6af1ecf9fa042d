"""Server time of the weekly review page over a year of history.

1,000,000 cases reported over the 52 weeks before the last complete ISO week, in a
separate PostgreSQL database (esc_bench_review on 127.0.0.1 by default), with what the
review reads: their timeline events (opened, acknowledged with the counted TTA, moved to
command, resolved, reopened), resolve cycles, customer updates, breaches with causes,
handoffs (some ping-pong), executive escalations, and 1 % drills. The rows are written
by PostgreSQL itself (INSERT … SELECT over generate_series), not one ORM object at a
time: a million cases load in minutes. The page is rendered through Django's test
Client (the whole middleware and view stack, no network); the report gives p50/p95/max,
the query count and the load average, at three moments: every week kept; the minutes
after a week ends (that week not kept yet); a fresh install (nothing kept). It also times
the beat task's work that the page never does (keeping one week, keeping all 13).

    .venv/bin/python -m bench.review_bench [--database-url URL] [--cases 1000000] [--repeat 40] [--reload]

Bounded (a fixed number of rows and requests) and loopback only. Writes
bench/RESULTS-review.md (keeping its "Earlier runs" section)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

from bench.pages_bench import _configure_env, _ensure_database

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/esc_bench_review"
RESULTS = Path(__file__).resolve().parent / "RESULTS-review.md"
TITLE = "Review bench case"
# Share of the cases per severity, and of the cases that are drills.
SEVERITY_SHARES = (("S1", 0.05), ("S2", 0.15), ("S3", 0.40), ("S4", 0.40))

NOTES = """
## Reading the figures

- A view reads the kept weeks (`ReviewWeek`, one JSON row per week, one query for 13) and computes
  nothing: every figure of a complete week is computed once, by the beat task
  `escalations.keep_review_weeks` (every 5 minutes), and kept. Only the breaches by confirmed cause
  (causes are confirmed after the week) and the escape-valve lists are read at every view.
- A week not kept yet (the minutes after Monday 00:00 UTC, or a fresh install) is shown as being
  computed, in the place of its figures; the view asks the keeping task to run now (a `cache.add`
  claim and one publish per 5 minutes), which is no database write and no aggregation.
- The keeping task runs the grouped queries (one per figure family over the weeks it computes,
  `percentile_cont` in the database, JIT off for its transaction); its times, under the table,
  are paid by the worker, never by a request.
- The machine has 2 CPUs shared with other workers; p95/max move with its load (the load average
  is given beside each figure, at the start and the end of its requests).
"""


def _incident_insert_sql(template, snapshot: dict, lo: int, hi: int, year_start, seconds: int) -> tuple[str, list]:
    """INSERT … SELECT of cases lo..hi of one severity: every column the template case
    has, with the times, outcome and impact of each row drawn from random() in SQL."""
    from django.db import connection

    from escalations.models import Incident

    # s.r1: when it was reported; s.r2: time to acknowledge; s.r3: time to resolve;
    # s.r4: impact and sentiment; s.g: the row number.
    reported = "(%(start)s::timestamptz + (s.r1 * %(span)s) * interval '1 second')"
    tta = "(60 + floor(s.r2 * s.r2 * 2 * ack_t.v))"
    ttr = "(600 + floor(s.r3 * s.r3 * 2 * res_t.v))"
    acked = f"CASE WHEN s.r2 < 0.97 THEN {reported} + {tta} * interval '1 second' END"
    # Cases reported in the last week are mostly still open; older ones mostly resolved.
    resolved = (
        f"CASE WHEN s.r2 < 0.97 AND s.r3 < 0.95 AND {reported} + {ttr} * interval '1 second' < %(now)s "
        f"THEN {reported} + {ttr} * interval '1 second' END"
    )
    exprs = {
        "title": f"'{TITLE} ' || s.g",
        "customer_id": "(%(customers)s::int[])[1 + s.g %% 200]",
        "reported_at": reported,
        "created_at": reported,
        "updated_at": reported,
        "clock_started_at": reported,
        "cycle_started_at": reported,
        "acknowledged_at": acked,
        "acknowledged_by_id": f"CASE WHEN s.r2 < 0.97 THEN {template.created_by_id} END",
        "ack_elapsed_seconds": f"CASE WHEN s.r2 < 0.97 THEN {tta} END",
        "resolved_at": resolved,
        "closed_at": "NULL",
        "status": f"CASE WHEN ({resolved}) IS NOT NULL THEN 'resolved' WHEN s.r2 < 0.97 THEN 'acknowledged' "
        "ELSE 'new' END",
        "queue_rank": f"CASE WHEN ({resolved}) IS NOT NULL THEN 4 ELSE 2 END",
        "arr_at_risk": "round((s.r4 * 200000)::numeric, 2)",
        "sentiment": "(ARRAY['unknown','positive','neutral','negative','at_risk'])[1 + floor(s.r4 * 5)::int]",
        "is_drill": "s.g %% 100 = 0",
        "stage": f"CASE WHEN ({resolved}) IS NOT NULL AND s.r4 < 0.5 THEN 'command' ELSE 'triage' END",
        "ack_due_at": f"{reported} + ack_t.v * interval '1 second'",
        "resolve_due_at": f"{reported} + res_t.v * interval '1 second'",
        "next_update_due_at": "NULL",
        "next_check_at": "NULL",
        "next_deadline_at": "NULL",
        "last_progress_at": reported,
        "paused_since": "NULL",
        "pause_reason": "''",
        "external_id": "''",
    }
    columns, values, params = (
        [],
        [],
        {
            "start": year_start,
            "span": seconds,
            "now": year_start + timedelta(seconds=seconds),
            "lo": lo,
            "hi": hi,
        },
    )
    params["customers"] = _incident_insert_sql.customers
    for f in Incident._meta.concrete_fields:
        if f.attname == "id":
            continue
        columns.append(f'"{f.column}"')
        if f.attname in exprs:
            values.append(exprs[f.attname])
            continue
        value = snapshot.get(f.name, getattr(template, f.attname))
        if f.name == "policy":
            value = snapshot["policy"].pk
        if f.get_internal_type() == "JSONField":
            value = json.dumps(value)
        if f.get_internal_type() == "DateTimeField":
            value = None
        key = f"c_{f.attname}"
        params[key] = value
        # Typed: a parameter in an INSERT … SELECT list has no column to infer its type from.
        values.append(f"%({key})s::{f.db_type(connection)}")
    sql = (
        f"INSERT INTO escalations_incident ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} "
        "FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4 "
        "      FROM generate_series(%(lo)s::int, %(hi)s::int) AS g) AS s, "
        f"(SELECT {snapshot['ack_target_seconds']}::float AS v) AS ack_t, "
        f"(SELECT {snapshot['resolve_target_seconds']}::float AS v) AS res_t"
    )
    return sql, params


_incident_insert_sql.customers = []


RELATED_SQL = [
    # Opened, acknowledged (with the counted TTA and whether it met its target), moved
    # into command (half of the resolved cases, a third of the way to resolve), resolved.
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'created', reported_at, %(actor)s, '{}', jsonb_build_object('severity', severity, 'source',
              'trigger'), '' FROM escalations_incident WHERE title LIKE %(like)s""",
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'acknowledged', acknowledged_at, %(actor)s, '{}', jsonb_build_object('tta_seconds',
              ack_elapsed_seconds, 'met', ack_elapsed_seconds <= ack_target_seconds), ''
       FROM escalations_incident WHERE title LIKE %(like)s AND acknowledged_at IS NOT NULL""",
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'stage_changed', reported_at + (resolved_at - reported_at) / 3, %(actor)s,
              '{"stage": "triage"}', '{"stage": "command"}', ''
       FROM escalations_incident WHERE title LIKE %(like)s AND stage = 'command'""",
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'resolved', resolved_at, %(actor)s, '{"status": "acknowledged"}',
              jsonb_build_object('status', 'resolved'), ''
       FROM escalations_incident WHERE title LIKE %(like)s AND resolved_at IS NOT NULL""",
    # 3 % of the resolved cases were reopened once (a second, shorter cycle).
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'reopened', resolved_at - interval '30 minutes', %(actor)s, '{"status": "resolved"}',
              '{"status": "investigating", "cycle": 2}', 'Came back'
       FROM escalations_incident WHERE title LIKE %(like)s AND resolved_at IS NOT NULL AND id %% 33 = 0""",
    """INSERT INTO escalations_resolvecycle (incident_id, number, started_at, ended_at, target_seconds,
              elapsed_seconds, met)
       SELECT id, 1, reported_at, resolved_at, resolve_target_seconds,
              EXTRACT(EPOCH FROM resolved_at - reported_at)::int,
              CASE WHEN resolved_at IS NOT NULL THEN resolved_at <= resolve_due_at END
       FROM escalations_incident WHERE title LIKE %(like)s""",
    """INSERT INTO escalations_customerupdate (incident_id, body, channel_id, posted_at, posted_by_id, was_late)
       SELECT id, 'We are on it', %(channel)s, reported_at + interval '20 minutes', %(actor)s, id %% 10 = 0
       FROM escalations_incident WHERE title LIKE %(like)s AND id %% 5 <> 0""",
    # A quarter of them not reviewed yet (no cause); the others confirmed a day later.
    """INSERT INTO escalations_breach (incident_id, kind, cycle, severity, due_at, detected_at, cause, cause_note,
              cause_confirmed_at, cause_confirmed_by_id)
       SELECT id, kind, 1, severity, reported_at + interval '1 hour', reported_at + interval '61 minutes', cause, '',
              CASE WHEN cause IS NOT NULL THEN reported_at + interval '1 day' END,
              CASE WHEN cause IS NOT NULL THEN %(manager)s::int END
       FROM (SELECT id, severity, reported_at, (ARRAY['ack','resolve','update'])[1 + id %% 3] AS kind,
                    (ARRAY['unassigned','capacity','third_party','handoff_gap','complexity','other',NULL,
                           NULL])[1 + (id / 12) %% 8] AS cause
             FROM escalations_incident WHERE title LIKE %(like)s AND id %% 12 = 0) AS b""",
    """INSERT INTO escalations_handoffpacket (incident_id, from_user_id, from_stage, to_user_id, to_stage, summary,
              customer_impact, actions_taken, hypothesis, next_steps, open_questions, links, acceptance_criteria,
              checklist_state, status, offered_at, accept_due_at, responded_at, responded_by_id, rejection_reason,
              is_ping_pong, ping_pong_reason)
       SELECT id, %(actor)s, 'triage', %(other)s, 'triage', 'Summary', 'Impact', '', '', 'Next', '', '', '', '[]',
              'accepted', reported_at + interval '30 minutes', reported_at + interval '45 minutes',
              reported_at + interval '30 minutes' + (id %% 40) * interval '1 minute', %(other)s, '', false, ''
       FROM escalations_incident WHERE title LIKE %(like)s AND id %% 4 = 0""",
    # A fifth of those bounce straight back: ping-pong by the audit's definition.
    """INSERT INTO escalations_handoffpacket (incident_id, from_user_id, from_stage, to_user_id, to_stage, summary,
              customer_impact, actions_taken, hypothesis, next_steps, open_questions, links, acceptance_criteria,
              checklist_state, status, offered_at, accept_due_at, responded_at, responded_by_id, rejection_reason,
              is_ping_pong, ping_pong_reason)
       SELECT id, %(other)s, 'triage', %(actor)s, 'triage', 'Summary', 'Impact', '', '', 'Next', '', '', '', '[]',
              'accepted', reported_at + interval '2 hours', reported_at + interval '135 minutes',
              reported_at + interval '2 hours 5 minutes', %(actor)s, '', true, 'Back'
       FROM escalations_incident WHERE title LIKE %(like)s AND id %% 20 = 0""",
    """INSERT INTO escalations_escalation (incident_id, level, reason, notified, created_at, actor_id, is_executive)
       SELECT id, 5, 'Executive sponsor asked', '[]', reported_at + interval '3 hours', %(manager)s, true
       FROM escalations_incident WHERE title LIKE %(like)s AND id %% 200 = 7""",
    """INSERT INTO escalations_caseevent (incident_id, kind, at, actor_id, old, new, detail)
       SELECT id, 'severity_changed', reported_at + interval '10 minutes', %(manager)s,
              jsonb_build_object('severity', 'S3'), jsonb_build_object('severity', severity, 'source', 'manual'),
              'S3 → ' || severity || ': customer escalated'
       FROM escalations_incident WHERE title LIKE %(like)s AND id %% 250 = 3""",
]


def _load(n_cases: int, reload: bool, last_week) -> tuple:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from escalations.models import Channel, Customer, Incident
    from escalations.security import roles
    from escalations.selectors.policies import policy_for
    from escalations.services import incident_create
    from escalations.services.clocks import policy_snapshot
    from escalations.services.playbook import playbook_load

    User = get_user_model()
    playbook_load()
    agent, _ = User.objects.get_or_create(username="bench_agent", defaults={"first_name": "Bench"})
    agent.groups.add(Group.objects.get(name=roles.CS_AGENTS))
    other, _ = User.objects.get_or_create(username="bench_other", defaults={"first_name": "Other"})
    other.groups.add(Group.objects.get(name=roles.CS_AGENTS))
    manager, _ = User.objects.get_or_create(username="bench_manager", defaults={"first_name": "Mia", "is_staff": True})
    manager.groups.add(Group.objects.get(name=roles.MANAGERS))
    # Fresh instances: permission caches must not predate the group memberships.
    agent, other, manager = (User.objects.get(pk=u.pk) for u in (agent, other, manager))
    customers = [Customer.objects.get_or_create(name=f"Customer {i:03d}")[0] for i in range(200)]
    channel = Channel.objects.get(slug="email")
    _incident_insert_sql.customers = [c.pk for c in customers]

    with connection.cursor() as cursor:
        if reload:
            for table in (
                "escalations_escalation",
                "escalations_breach",
                "escalations_handoffpacket",
                "escalations_customerupdate",
                "escalations_resolvecycle",
                "escalations_caseevent",
            ):
                cursor.execute(
                    f"DELETE FROM {table} WHERE incident_id IN "  # noqa: S608 (fixed table names)
                    "(SELECT id FROM escalations_incident WHERE title LIKE %s)",
                    [f"{TITLE} %"],
                )
            cursor.execute("DELETE FROM escalations_incident WHERE title LIKE %s", [f"{TITLE} %"])
        existing = Incident.objects.filter(title__startswith=TITLE).count()
    if existing >= n_cases:
        return manager, existing
    if existing:
        raise SystemExit(f"The database holds {existing:,} bench cases, not {n_cases:,}: run with --reload.")
    year_start = last_week.ends_at - timedelta(weeks=52)
    seconds = int((last_week.ends_at - year_start).total_seconds())
    template = Incident.objects.filter(title="Review bench template").first() or incident_create(
        actor=manager,
        title="Review bench template",
        customer=customers[0],
        channel=channel,
        now=year_start,
        is_drill=True,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        lo = 1
        for key, share in SEVERITY_SHARES:
            hi = lo + round(n_cases * share) - 1
            sql, params = _incident_insert_sql(template, policy_snapshot(policy_for(key)), lo, hi, year_start, seconds)
            cursor.execute(sql, params)
            lo = hi + 1
        for sql in RELATED_SQL:
            cursor.execute(
                sql,
                {"actor": agent.pk, "other": other.pk, "manager": manager.pk, "channel": channel.pk,
                 "like": f"{TITLE} %"},
            )  # fmt: skip
    with connection.cursor() as cursor:
        # What autovacuum would have done by now: fresh statistics and visibility map.
        cursor.execute("VACUUM ANALYZE")
    return manager, Incident.objects.filter(title__startswith=TITLE).count()


def _measure(client, url: str, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(2):  # warm-up: connections, template cache, permission cache paths
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    slowest = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))[:5]
    timings.sort()
    return {
        "url": url,
        "p50": statistics.median(timings),
        "p95": timings[max(0, int(len(timings) * 0.95) - 1)],
        "max": timings[-1],
        "queries": len(ctx.captured_queries),
        "bytes": len(response.content),
        "slowest": [(float(q["time"]) * 1000, q["sql"][:110]) for q in slowest],
    }


def _measured(client, url: str, repeat: int) -> dict:
    load = os.getloadavg()[0]
    result = _measure(client, url, repeat)
    return {**result, "load": f"{load:.1f}–{os.getloadavg()[0]:.1f}"}


def _row(label: str, r: dict) -> str:
    return (
        f"| {label} | {r['p50']:.0f} | {r['p95']:.0f} | {r['max']:.0f} | {r['queries']} | {r['bytes']:,} | "
        f"{r['load']} |"
    )


def _earlier_runs() -> str:
    """The "Earlier runs" section of the results file, kept across runs."""
    if not RESULTS.exists():
        return ""
    text = RESULTS.read_text()
    at = text.find("\n## Earlier runs")
    return text[at:] if at >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_REVIEW_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--reload", action="store_true", help="delete and re-insert the bench cases")
    args = parser.parse_args(argv)
    if not 1 <= args.cases <= 1_000_000 or not 1 <= args.repeat <= 200:
        parser.error("--cases must be 1..1,000,000 and --repeat 1..200")

    _configure_env(args.database_url)
    _ensure_database(args.database_url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from escalations.models import Breach, CaseEvent, HandoffPacket, ReviewWeek
    from escalations.reporting.figures import last_complete_week
    from escalations.services.review_weeks import review_weeks_keep

    call_command("migrate", verbosity=0)
    week = last_complete_week()
    t0 = time.perf_counter()
    manager, cases = _load(args.cases, args.reload, week)
    load_seconds = time.perf_counter() - t0
    loaded = f"load {load_seconds:.0f} s" if load_seconds > 30 else "loaded by an earlier run"
    counts = {
        "events": CaseEvent.objects.count(),
        "breaches": Breach.objects.count(),
        "handoffs": HandoffPacket.objects.count(),
    }
    client = Client()
    client.force_login(manager)
    url = f"{reverse('escalations:manage-review')}?week={week.label}"
    api = f"{reverse('api:metrics-weekly')}?week={week.label}"

    def keep() -> float:
        start = time.perf_counter()
        review_weeks_keep(now=timezone.now())
        return time.perf_counter() - start

    # (c) A fresh install: nothing kept; the page says every week is being computed.
    ReviewWeek.objects.all().delete()
    fresh = _measured(client, url, args.repeat)
    keep_all = keep()  # what the beat then does, off the request path: all 13 weeks
    # (a) Every week kept: the page as it runs all week.
    kept = _measured(client, url, args.repeat)
    kept_api = _measured(client, api, args.repeat)
    # (b) The minutes after a week ends: that week not kept yet.
    ReviewWeek.objects.filter(week_start=week.starts_at).delete()
    ended = _measured(client, url, args.repeat)
    keep_one = keep()  # the beat's first run after Monday 00:00 UTC: the week just ended
    lines = [
        "# Weekly review page benchmark (server time)",
        "",
        "Command (PostgreSQL on 127.0.0.1, in its own database, created if missing):",
        "",
        "```",
        f".venv/bin/python -m bench.review_bench --database-url {args.database_url} --cases {args.cases} "
        f"--repeat {args.repeat}",
        "```",
        "",
        f"Run {timezone.now():%Y-%m-%d %H:%M} UTC. Data: {cases:,} cases reported over the 52 weeks up to "
        f"{week.label} (1 % drills; S1 5 %, S2 15 %, S3 40 %, S4 40 %), {counts['events']:,} timeline events, "
        f"{counts['breaches']:,} breaches, {counts['handoffs']:,} handoffs, resolve cycles and customer updates, "
        f"written by INSERT … SELECT generate_series ({loaded}). Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, shared with other workers' test suites (the load average "
        "beside each figure).",
        "",
        "Each figure is the wall time of `Client.get()` in-process: middleware (session, auth, time zone), view, "
        f"queries and template rendering; no network. {args.repeat} requests after 2 warm-up requests.",
        "",
        "| Moment | p50 ms | p95 ms | max ms | queries | bytes | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        _row(f"(a) review page, {week.label}, its 13 weeks kept", kept),
        _row(f"(b) review page in the minutes after {week.label} ended (it is not kept yet: being computed)", ended),
        _row("(c) review page on a fresh install (no week kept: all 13 being computed)", fresh),
        _row(f"`/api/v1/metrics/weekly/?week={week.label}`, kept", kept_api),
        "",
        "Budget: ≤ 1,000 ms p95 server time at every moment; the query count does not grow with cases or weeks.",
        "",
        "The beat task's work, which no request does (`review_weeks_keep`, one run, wall time):",
        "",
        f"- keeping the week just ended ({week.label}): {keep_one * 1000:,.0f} ms",
        f"- keeping all 13 weeks (a fresh install): {keep_all * 1000:,.0f} ms",
        "",
        "Slowest queries of one request with the weeks kept:",
        "",
        *[f"- {ms:.0f} ms: `{sql}…`" for ms, sql in kept["slowest"]],
        NOTES,
    ]
    RESULTS.write_text("\n".join(lines) + _earlier_runs())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
