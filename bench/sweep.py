"""Breach-sweep benchmark (not a timed test; results in bench/RESULTS-sweep.md).

    python -m bench.sweep --database-url postgres://postgres@127.0.0.1:5432/esc_bench_sweep \\
        --sizes 100000,1000000 --due 1000 [--latency 120]

Loads open cases into its own PostgreSQL database with COPY (progress bar), then times in
one run: a sweep with nothing due at each size; a sweep finding ``--due`` newly due cases
among the first size (``--due-repeat`` times, each rolled back; median, first, min and
max reported), and the same cases through a naive baseline (iterate every open
case in Python and check it) for the ratio; queries and peak Python memory per sweep.
``--latency N`` then runs a real beat and worker (private redis-server, the shipped
10 s interval and sweep wake-ups) and measures breach-to-escalation latency for N cases
whose deadlines fall over the next minute.

Bench data is loaded with COPY and without history rows: it is a fixture, not product
writes. The sweeps themselves run the product code unchanged.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("TESTING", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _ensure_database(database_url: str) -> None:
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    # A fresh database every run: cases loaded by an earlier run have deadlines that passed
    # since, and would make "nothing due" untrue.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _prepare(now: datetime):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from escalations.models import Channel, Customer, Shift, ShiftRole, Team
    from escalations.security.roles import DUTY_MANAGERS
    from escalations.services.playbook import playbook_load

    call_command("migrate", verbosity=0)
    playbook_load()
    User = get_user_model()
    dm, _ = User.objects.get_or_create(username="bench_dm", defaults={"email": "dm@bench.invalid"})
    dm.groups.add(
        *__import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.filter(name=DUTY_MANAGERS)
    )
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench team"})
    Shift.objects.filter(team=team).delete()
    Shift.objects.create(team=team, user=dm, role=ShiftRole.DUTY_MANAGER, starts_at=now - timedelta(days=1),
                         ends_at=now + timedelta(days=2))  # fmt: skip
    customer, _ = Customer.objects.get_or_create(name="Bench customer")
    return team, customer, Channel.objects.get(slug="email")


def _open_count() -> int:
    from escalations.choices import OPEN_STATUSES
    from escalations.models import Incident

    return Incident.objects.filter(status__in=OPEN_STATUSES).count()


def _load(target: int, *, now: datetime, team, customer, channel) -> None:
    """Top the database up to ``target`` open S2 cases with nothing due for 25 minutes."""
    from django.db import connection
    from tqdm import tqdm

    from escalations.choices import Status
    from escalations.fastpath.writes import _pg_copy  # the sweep's own COPY helper
    from escalations.models import Incident
    from escalations.selectors.policies import policy_for
    from escalations.services.clocks import incident_recompute_clocks, policy_snapshot

    missing = target - _open_count()  # (a fresh database each run: see _ensure_database)
    if missing <= 0:
        return
    fields = [f for f in Incident._meta.concrete_fields if not f.primary_key]
    columns = tuple(connection.ops.quote_name(f.column) for f in fields)
    # One template case through the real recompute; every other row is the template
    # shifted in time (S2 runs 24x7, so a shifted case has exactly shifted deadlines).
    # Acknowledged S2 cases: their next pending moment (the customer-update warning, 45
    # min after the report) is ≥ 25 minutes away, so nothing becomes due during the run.
    template = Incident(
        title="Bench case", customer=customer, channel=channel, team=team, reported_at=now,
        status=Status.ACKNOWLEDGED, acknowledged_at=now + timedelta(minutes=1), clock_started_at=now,
        cycle_started_at=now, last_progress_at=now, **policy_snapshot(policy_for("S2")),
    )  # fmt: skip
    incident_recompute_clocks(template, now=now, pauses=[])
    base = [_copy_value(f, f.pre_save(template, True), connection) for f in fields]
    shift_at = [
        i
        for i, value in enumerate(base)
        if isinstance(value, datetime) and fields[i].name not in ("created_at", "updated_at")
    ]
    title_at = next(i for i, f in enumerate(fields) if f.name == "title")
    chunk = 50_000
    with tqdm(total=missing, desc=f"loading open cases to {target:,}", unit="case") as bar:
        while missing > 0:
            n = min(chunk, missing)
            rows = []
            for i in range(n):
                # Reported over the last 20 minutes: ack deadlines 10–30 minutes ahead.
                delta = timedelta(seconds=-random.randint(0, 1200))
                row = list(base)
                for j in shift_at:
                    row[j] = base[j] + delta
                row[title_at] = f"Bench case {i}"
                rows.append(row)
            with connection.cursor() as cursor:
                _pg_copy(cursor, connection.ops.quote_name(Incident._meta.db_table), columns, rows)
            missing -= n
            bar.update(n)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE escalations_incident")


def _copy_value(field, value, connection):
    """A Python value as COPY takes it: psycopg dumps ints, strings, booleans, decimals and
    aware datetimes itself; JSON goes through Django's preparation."""
    return field.get_db_prep_save(value, connection=connection) if field.get_internal_type() == "JSONField" else value


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _measure(fn, *, repeat: int = 1, memory: bool = False) -> dict:
    """Time ``fn`` (wall clock) and count its queries; with ``memory``, trace Python
    allocations for the peak instead — tracemalloc slows allocation-heavy code several
    fold, so timed runs never trace."""
    from django.db import connection

    times, queries, peaks = [], [], []
    for _ in range(repeat):
        counter = QueryCounter()
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            result = fn()
        times.append((time.perf_counter() - started) * 1000)
        if memory:
            peaks.append(tracemalloc.get_traced_memory()[1] / 1024)
            tracemalloc.stop()
        queries.append(counter.count)
    return {
        "ms_median": statistics.median(times),
        "ms_p95": sorted(times)[max(0, int(len(times) * 0.95) - 1)],
        "ms_min": min(times),
        "queries": max(queries),
        "peak_kib": max(peaks) if peaks else 0.0,
        "result": result,
    }


def _make_due(ids: list[int], now: datetime) -> None:
    """Bench fixture: make ``ids`` newly due for their customer-update deadline, with the
    75 % warning already raised (the steady state: a live sweep raised it minutes ago)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE escalations_incident SET next_update_due_at = %s, update_warn_at = %s, update_warned_at = %s, "
            "next_check_at = %s WHERE id = ANY(%s)",
            [now - timedelta(seconds=1), now - timedelta(minutes=8), now - timedelta(minutes=8),
             now - timedelta(seconds=1), ids],
        )  # fmt: skip


def _naive_sweep(now: datetime) -> int:
    """The baseline: every open case into Python, checked one by one, each due one
    planned and written on its own (same decision and row-building code as the sweep)."""
    from escalations.choices import OPEN_STATUSES
    from escalations.models import Incident
    from escalations.services.common import system_user
    from escalations.services.engine.plan import plan_incident
    from escalations.services.engine.roster import roster_load
    from escalations.services.engine.sweep import _write
    from escalations.sla.sweep import sweep_decide

    actor = system_user()
    roster = roster_load(at=now)
    found = 0
    qs = Incident.objects.filter(status__in=OPEN_STATUSES).select_related("policy", "team", "commander", "stage_dri")
    for incident in qs.iterator(chunk_size=5000):
        if sweep_decide(incident, now).empty:
            continue
        _write([plan_incident(incident, now=now, roster=roster, actor=actor)], actor=actor)
        found += 1
    return found


def _bench_due(size: int, due: int, now: datetime, repeat: int) -> dict:
    """The sweep over ``due`` newly due cases, ``repeat`` times (each in its own
    transaction, rolled back, so every run does the full work), then once traced for
    memory, then the naive baseline once."""
    from django.db import transaction

    from escalations.models import Incident
    from escalations.services.engine.sweep import sweep_run

    ids = random.sample(list(Incident.objects.filter(next_check_at__gt=now).values_list("pk", flat=True)[:size]), due)
    out = {}
    runs = []
    for _ in range(repeat):
        with transaction.atomic():
            _make_due(ids, now)
            run = _measure(lambda: sweep_run(now=now, source="bench"))
            assert run["result"].breaches == due, run["result"]
            runs.append(run)
            transaction.set_rollback(True)
    times = [r["ms_median"] for r in runs]
    out["fast"] = {
        "ms_first": times[0],
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "ms_max": max(times),
        "queries": max(r["queries"] for r in runs),
        "result": runs[0]["result"],
    }
    with transaction.atomic():
        _make_due(ids, now)
        out["fast_memory"] = _measure(lambda: sweep_run(now=now, source="bench"), memory=True)
        transaction.set_rollback(True)
    with transaction.atomic():
        _make_due(ids, now)
        out["naive"] = _measure(lambda: _naive_sweep(now))
        assert out["naive"]["result"] == due, out["naive"]["result"]
        transaction.set_rollback(True)
    return out


def _latency(cases: int, team, customer, channel, database_url: str) -> dict:
    """Real beat + worker (default 10 s interval, wake-ups on) on a private redis-server; ``cases`` S2
    cases whose ack deadlines fall uniformly over the next 60 s. Latency = when the
    escalation became visible (polled every 100 ms) − the deadline."""
    from django.db.models import Count
    from django.utils import timezone

    from escalations.models import Escalation, Incident, SweepHeartbeat
    from escalations.services import incident_create
    from escalations.services.common import system_user
    from tests.engine_support import RedisServer, point_celery_at

    redis = RedisServer()
    redis.start()
    point_celery_at(redis.url)  # this process publishes (pages at intake) to the same private broker
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    # As production runs: the wake-up claims in a Redis cache shared by the processes.
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url, "LOG_LEVEL": "WARNING",
           "NOTIFICATION_FIRST_RETRY_SECONDS": "60", "CACHE_URL": redis.url.rsplit("/", 1)[0] + "/1"}  # fmt: skip
    env.pop("SWEEP_INTERVAL_SECONDS", None)  # the shipped default (10 s)
    env.pop("SWEEP_WAKEUP", None)  # the shipped default (on)
    procs = [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--without-gossip",
                          "--without-mingle", "-n", "bench@%h"], cwd=ROOT, env=env, stdout=open(tmp / "worker.log", "wb"),
                         stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "beat", "--schedule", str(tmp / "beat")], cwd=ROOT,
                         env=env, stdout=open(tmp / "beat.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True),
    ]  # fmt: skip
    try:
        time.sleep(5)
        now = timezone.now()
        actor = system_user()
        due: dict[int, datetime] = {}
        for i in range(cases):
            deadline = now + timedelta(seconds=5 + 60 * i / cases)
            incident = incident_create(
                actor=actor, title=f"Latency case {i}", customer=customer, channel=channel, team=team, now=now,
                reported_at=deadline - timedelta(minutes=30), arr_at_risk=60000,
            )  # fmt: skip
            due[incident.pk] = Incident.objects.get(pk=incident.pk).ack_due_at
        seen: dict[int, datetime] = {}
        stop = time.monotonic() + 120
        while len(seen) < cases and time.monotonic() < stop:
            at = timezone.now()
            for pk in Escalation.objects.filter(incident_id__in=set(due) - set(seen), level=1).values_list(
                "incident_id", flat=True
            ):
                seen[pk] = at
            time.sleep(0.1)
        latencies = sorted((seen[pk] - due[pk]).total_seconds() for pk in seen)
        sweeps = dict(SweepHeartbeat.objects.filter(started_at__gte=now).values_list("source").annotate(n=Count("id")))
        return {
            "cases": cases,
            "escalated": len(seen),
            "p50": statistics.median(latencies),
            "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
            "max": latencies[-1],
            "sweeps": sweeps,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 15)
        for proc in procs:
            proc.wait(30)
        redis.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/esc_bench_sweep")
    parser.add_argument("--sizes", default="100000,1000000", help="open-case counts for the nothing-due sweep")
    parser.add_argument("--due", type=int, default=1000, help="newly due cases among the first size")
    parser.add_argument("--repeat", type=int, default=20, help="nothing-due sweeps per size")
    parser.add_argument("--due-repeat", type=int, default=5, help="sweeps over the newly due cases (median reported)")
    parser.add_argument("--latency", type=int, default=0, help="cases for the real beat+worker latency run")
    parser.add_argument("--plain", action="store_true", help="plain Django + simple-history instead of fastpath")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        parser.error("the benchmark needs PostgreSQL")
    _ensure_database(args.database_url)
    _setup_django(args.database_url)
    if args.plain:
        from bench import use_plain_paths

        use_plain_paths()
    from django.utils import timezone

    from escalations.services.engine.sweep import sweep_run

    random.seed(42)
    now = timezone.now()
    team, customer, channel = _prepare(now)
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = "plain Django + simple-history" if args.plain else "fastpath"
    print(f"# breach sweep benchmark ({paths}), {now:%Y-%m-%d %H:%M} UTC, python {sys.version.split()[0]}")
    for index, size in enumerate(sizes):
        _load(size, now=now, team=team, customer=customer, channel=channel)
        idle = _measure(lambda: sweep_run(now=now, source="bench"), repeat=args.repeat)
        idle["peak_kib"] = _measure(lambda: sweep_run(now=now, source="bench"), memory=True)["peak_kib"]
        print(f"nothing due, {size:>9,} open: median {idle['ms_median']:.1f} ms, p95 {idle['ms_p95']:.1f} ms, "
              f"{idle['queries']} queries, peak {idle['peak_kib']:.0f} KiB")  # fmt: skip
        if index == 0 and args.due:
            due = _bench_due(size, args.due, now, args.due_repeat)
            fast, naive = due["fast"], due["naive"]
            r = fast["result"]
            print(f"{args.due} newly due among {size:,}: sweep median {fast['ms_median']:.0f} ms over {args.due_repeat} "
                  f"runs (first {fast['ms_first']:.0f}, min {fast['ms_min']:.0f}, max {fast['ms_max']:.0f}) "
                  f"({r.breaches} breaches, {r.escalations} escalations, {r.notifications} notifications, "
                  f"{r.batches} batches), {fast['queries']} queries, "
                  f"peak {due['fast_memory']['peak_kib'] / 1024:.1f} MiB (traced run)")  # fmt: skip
            print(f"  naive baseline (iterate {size:,} open cases in Python): {naive['ms_median']:.0f} ms, "
                  f"{naive['queries']} queries; "
                  f"ratio naive/sweep = {naive['ms_median'] / fast['ms_median']:.1f}x")  # fmt: skip
    if args.latency:
        lat = _latency(args.latency, team, customer, channel, args.database_url)
        sweeps = ", ".join(f"{n} {source}" for source, n in sorted(lat["sweeps"].items()))
        print(f"breach→escalation latency, real beat (10 s) + wake-ups + worker, {lat['escalated']}/{lat['cases']} cases: "
              f"p50 {lat['p50']:.2f} s, p99 {lat['p99']:.2f} s, max {lat['max']:.2f} s (sweeps: {sweeps})")  # fmt: skip


if __name__ == "__main__":
    main()
