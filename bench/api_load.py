"""API load benchmark: list and detail latency under concurrency, and intake throughput,
through gunicorn over loopback, with 100,000 cases on PostgreSQL.

    .venv/bin/python -m bench.api_load [--cases 100000] [--clients 20] [--seconds 20]
        [--workers 5] [--intake-clients 8] [--intake-seconds 20] [--reload]

Steps: (1) a separate database (esc_bench_api on 127.0.0.1 by default) is migrated and
loaded: reference data through the services (with a Support Duty Manager on shift, so
S1/S2 intake pages someone), then bulk rows cloned from a case the intake service opened
(bench data: no history rows for the clones; 90 % resolved over the past year, 10 % open
in the past fortnight, 5 % with a clock pause); (2) gunicorn serves config.wsgi on a
free 127.0.0.1 port (DEBUG off, plain http, Celery broker on Redis db ``--redis-url``,
which the bench empties before and after, and the next Redis db as the shared cache that
holds the throttles, as production's CACHE_URL); (3) ``--clients`` closed-loop clients hit
each endpoint for ``--seconds`` (after a warm-up), one connection per request
(gunicorn's sync workers close after each response): wrk (Debian package ``wrk``, a C
load generator that leaves the CPUs to the server) when installed, else Python threads;
(4) ``--intake-clients`` threads POST /api/v1/intake/ for ``--intake-seconds`` with
unique external ids, then every row intake must write is counted in the database.

Bounded (fixed durations) and loopback only. Writes bench/RESULTS-api.md."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from config.embedded import free_port

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/esc_bench_api"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
WRK_SCRIPT = Path(__file__).resolve().parent / "api_load.lua"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "RESULTS-api.md"
BENCH_ENV = {
    "SECRET_KEY": "bench-only-secret-key-not-for-production",
    "DEBUG": "0",
    "SECURE_SSL_REDIRECT": "0",
    "SECURE_COOKIES": "0",
    "SECURE_HSTS_SECONDS": "0",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "LOG_LEVEL": "WARNING",
    # Throughput is the point of the runs: lift the per-integration and per-user throttles.
    "THROTTLE_INTAKE": "10000000/min",
    "THROTTLE_USER": "10000000/min",
    "DJANGO_SETTINGS_MODULE": "config.settings",
}


def _configure_env(database_url: str, var_dir: str, redis_url: str) -> None:
    os.environ.update(BENCH_ENV)
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    # As production: the throttles' counters in a shared Redis cache (the next database).
    base, _, db = redis_url.rpartition("/")
    os.environ["CACHE_URL"] = f"{base}/{int(db) + 1}" if db.isdigit() else redis_url
    os.environ["VAR_DIR"] = var_dir
    os.environ["TESTING"] = "1"  # plain static storage: no collectstatic needed


def _ensure_database(database_url: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _progress(total: int, desc: str) -> Any:
    try:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="rows", file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dev dependency
        return None


def _load(n_cases: int, reload: bool) -> dict[str, Any]:
    """Reference data through the services, then bulk clones of a service-opened case."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection, transaction
    from django.utils import timezone

    from escalations.choices import Status
    from escalations.models import Channel, ClockPause, Customer, Incident
    from escalations.security import roles
    from escalations.selectors.policies import policy_for
    from escalations.services import incident_create
    from escalations.services.clocks import policy_snapshot
    from escalations.services.playbook import playbook_load
    from escalations.services.tokens import token_create

    User = get_user_model()
    if reload:
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE escalations_incident, escalations_historicalincident CASCADE")
    playbook_load()
    reader, _ = User.objects.get_or_create(username="bench_api_manager", defaults={"first_name": "Bench"})
    reader.groups.add(Group.objects.get(name=roles.MANAGERS))
    bot, _ = User.objects.get_or_create(username="bench-monitoring-bot")
    bot.groups.add(Group.objects.get(name=roles.INTEGRATIONS))  # intake only, as a real integration
    # Somebody to page: S1/S2 intake notifies the Support Duty Manager on shift.
    from escalations.models import Shift, ShiftRole, Team

    duty_manager, _ = User.objects.get_or_create(username="bench_api_dm", defaults={"first_name": "Dana"})
    if duty_manager.email != "dana@example.com":  # paged in-app and by email (a published delivery task)
        duty_manager.email = "dana@example.com"
        duty_manager.save(update_fields=["email"])
    duty_manager.groups.add(Group.objects.get(name=roles.DUTY_MANAGERS))
    team, _ = Team.objects.get_or_create(slug="bench-api", defaults={"name": "Bench API team"})
    if not Shift.objects.filter(user=duty_manager, ends_at__gt=timezone.now() + timedelta(days=1)).exists():
        Shift.objects.create(
            team=team,
            user=duty_manager,
            role=ShiftRole.DUTY_MANAGER,
            starts_at=timezone.now() - timedelta(days=1),
            ends_at=timezone.now() + timedelta(days=30),
        )
    customers = [Customer.objects.get_or_create(name=f"API bench customer {i:03d}")[0] for i in range(200)]
    channel = Channel.objects.get(slug="email")
    now = timezone.now()

    existing = Incident.objects.count()
    started = time.monotonic()
    if existing < n_cases:
        template = incident_create(
            actor=reader, title="Template", customer=customers[0], channel=channel, now=now, arr_at_risk=0
        )
        base = {f.attname: getattr(template, f.attname) for f in Incident._meta.concrete_fields if f.attname != "id"}
        snapshots = {key: policy_snapshot(policy_for(key)) for key in ("S1", "S2", "S3", "S4")}
        rng = random.Random(42)
        progress = _progress(n_cases - existing, "cases")
        batch: list[Incident] = []
        pauses_for: list[int] = []  # batch positions that get a pause
        with transaction.atomic():
            for i in range(n_cases - existing):
                severity = rng.choice(("S1", "S2", "S3", "S3", "S4"))
                snap = snapshots[severity]
                is_open = rng.random() < 0.10
                age = timedelta(seconds=rng.randint(0, 14 * 86400 if is_open else 365 * 86400))
                reported = now - age
                row = dict(base)
                row.update(
                    {k: v for k, v in snap.items() if k != "policy"},
                    policy_id=snap["policy"].pk,
                    title=f"API bench case {i}",
                    customer_id=customers[rng.randrange(len(customers))].pk,
                    reported_at=reported,
                    clock_started_at=reported,
                    cycle_started_at=reported,
                    last_progress_at=reported,
                    ack_due_at=reported + timedelta(seconds=snap["ack_target_seconds"]),
                    resolve_due_at=reported + timedelta(seconds=snap["resolve_target_seconds"]),
                    next_update_due_at=None,
                    next_check_at=None,
                    next_deadline_at=None,
                    arr_at_risk=rng.choice((0, 0, 10_000, 60_000)),
                )
                if is_open:
                    acked = rng.random() < 0.5
                    row.update(
                        status=Status.ACKNOWLEDGED if acked else Status.NEW,
                        acknowledged_at=reported + timedelta(minutes=rng.randint(1, 60)) if acked else None,
                        next_deadline_at=row["resolve_due_at"],
                    )
                else:
                    resolved = reported + timedelta(minutes=rng.randint(30, 3000))
                    row.update(
                        status=rng.choice((Status.RESOLVED, Status.CLOSED)),
                        acknowledged_at=reported + timedelta(minutes=rng.randint(1, 60)),
                        resolved_at=resolved,
                        closed_at=resolved,
                    )
                if not is_open and rng.random() < 0.05:
                    pauses_for.append(len(batch))
                batch.append(Incident(**row))
                if len(batch) == 5000:
                    _flush(batch, pauses_for, reader, ClockPause, Incident)
                    if progress:
                        progress.update(len(batch))
                    batch, pauses_for = [], []
            if batch:
                _flush(batch, pauses_for, reader, ClockPause, Incident)
                if progress:
                    progress.update(len(batch))
        if progress:
            progress.close()
    with connection.cursor() as cursor:
        # VACUUM too: sets the visibility map (index-only counts) and leaves autovacuum
        # nothing to do on these tables while the clients run.
        cursor.execute("VACUUM ANALYZE")
        # And write the load's dirty pages out now: otherwise the checkpoint that follows
        # a bulk load lands in the middle of the measured runs.
        try:
            cursor.execute("CHECKPOINT")
        except Exception as exc:  # not a superuser (or pg_checkpoint): measure anyway
            print(f"CHECKPOINT skipped: {exc}", file=sys.stderr)
    ids = list(Incident.objects.values_list("id", flat=True))
    return {
        "reader_token": token_create(user=reader, actor=None, name="bench", ttl=None)[1],
        "bot_token": token_create(user=bot, actor=None, name="bench", ttl=None)[1],
        "ids": ids,
        "customer": customers[1].pk,
        "load_seconds": time.monotonic() - started,
        "cases": len(ids),
    }


def _flush(batch: list, pauses_for: list[int], actor: Any, ClockPause: Any, Incident: Any) -> None:
    created = Incident.objects.bulk_create(batch)
    pauses = []
    for pos in pauses_for:
        case = created[pos]
        start = case.reported_at + timedelta(minutes=10)
        pauses.append(
            ClockPause(
                incident_id=case.pk,
                reason="customer",
                note="Waiting for logs",
                started_at=start,
                ended_at=start + timedelta(minutes=40),
                started_by=actor,
                ended_by=actor,
            )
        )
    ClockPause.objects.bulk_create(pauses)


def _request(port: int, method: str, path: str, token: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _wait_ready(port: int, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _request(port, "GET", "/api/v1/policies/", token)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("gunicorn did not become ready")


def _drive(port: int, token: str, clients: int, seconds: float, make_path: Any, warmup: float = 3.0) -> dict:
    """Closed loop: each client sends its next request when the last one answered."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    start_measure = time.monotonic() + warmup
    stop = start_measure + seconds

    def client(n: int) -> None:
        rng = random.Random(n)
        local, bad = [], []
        while True:
            t0 = time.monotonic()
            if t0 >= stop:
                break
            status, _ = _request(port, "GET", make_path(rng), token)
            t1 = time.monotonic()
            if t0 >= start_measure:
                local.append(t1 - t0)
                if status != 200:
                    bad.append(status)
        with lock:
            latencies.extend(local)
            errors.extend(bad)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return _summary(latencies, errors, seconds)


def _wrk(port: int, clients: int, seconds: float, script_args: list[str], *, warmup: float = 0) -> dict:
    """One closed-loop run of bench/api_load.lua (one wrk thread, ``clients``
    connections), after ``warmup`` seconds of the same load; the summary as _summary's."""
    base = ["wrk", "-t1", f"-c{clients}", "-s", str(WRK_SCRIPT)]
    target = [f"http://127.0.0.1:{port}", "--", *script_args]
    if warmup:
        subprocess.run([*base, f"-d{warmup:g}s", *target], capture_output=True, check=True, timeout=warmup + 60)
    out = subprocess.run(
        [*base, f"-d{seconds:g}s", *target], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    match = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    values = {k: float(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    return {
        "requests": int(values["requests"]),
        "rps": values["requests"] / values["seconds"],
        "p50": values["p50"],
        "p95": values["p95"],
        "p99": values["p99"],
        "max": values["max"],
        "errors": int(values["socket_errors"] + values["non2xx"]),
        "error_codes": [],
        "elapsed": values["seconds"],
    }


def _drive_wrk(port: int, token: str, clients: int, seconds: float, mode: str, ids_file: str) -> dict:
    """The same closed loop as _drive, driven by wrk."""
    return _wrk(port, clients, seconds, [token, mode, ids_file], warmup=3)


def _intake_wrk(port: int, token: str, customer: int, clients: int, seconds: float, run_id: str) -> dict:
    """Intake driven by wrk: each request a new signal (external id ``<run_id>-<n>``).
    What was created is counted in the database afterwards (_verify_intake)."""
    result = _wrk(port, clients, seconds, [token, "intake", str(customer), run_id])
    # The rate counts the 2xx answers wrk received within the run; requests still in
    # flight when it stopped finish on the server and are counted by _verify_intake.
    result["created"] = result["requests"] - result["errors"]
    result["cases_per_s"] = result["created"] / result["elapsed"]
    return result


def _summary(latencies: list[float], errors: list[int], seconds: float) -> dict:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "requests": len(ms),
        "rps": len(ms) / seconds,
        "p50": q[49],
        "p95": q[94],
        "p99": q[98],
        "max": ms[-1] if ms else 0.0,
        "errors": len(errors),
        "error_codes": sorted(set(errors)),
    }


def _intake(port: int, token: str, customer: int, clients: int, seconds: float, run_id: str) -> dict:
    created: list[int] = []
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        seq, mine, lat, bad = 0, [], [], []
        while time.monotonic() < stop:
            body = json.dumps(
                {
                    "title": f"Monitor alert {n}-{seq}",
                    "customer": customer,
                    "channel": "monitoring",
                    "external_id": f"{run_id}-{n}-{seq}",
                    "arr_at_risk": "60000",
                }
            ).encode()
            t0 = time.monotonic()
            status, payload = _request(port, "POST", "/api/v1/intake/", token, body)
            lat.append(time.monotonic() - t0)
            if status == 201:
                mine.append(json.loads(payload)["id"])
            else:
                bad.append(status)
            seq += 1
        with lock:
            created.extend(mine)
            latencies.extend(lat)
            failures.extend(bad)

    t_start = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t_start
    result = _summary(latencies, failures, elapsed)
    result.update(created=len(created), elapsed=elapsed, cases_per_s=len(created) / elapsed, ids=created)
    return result


def _verify_intake(run_id: str, expected: int) -> dict[str, int]:
    """Every row a real intake writes, counted for this run's cases."""
    from escalations.models import CaseEvent, Checklist, ChecklistItem, Incident, Notification, ResolveCycle

    cases = Incident.objects.filter(external_id__startswith=f"{run_id}-")
    ids = cases.values("id")
    return {
        "cases": cases.count(),
        "case history rows": Incident.history.filter(external_id__startswith=f"{run_id}-").count(),
        "resolve cycles": ResolveCycle.objects.filter(incident__in=ids).count(),
        "checklists": Checklist.objects.filter(incident__in=ids).count(),
        "checklist items": ChecklistItem.objects.filter(checklist__incident__in=ids).count(),
        "checklist item history rows": ChecklistItem.history.filter(checklist__incident__in=ids).count(),
        "events": CaseEvent.objects.filter(incident__in=ids).count(),
        "event history rows": CaseEvent.history.filter(incident__in=ids).count(),
        "notifications": Notification.objects.filter(incident__in=ids).count(),
        "answered 201 within the run": expected,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    # One sync worker per CPU: the requests are CPU-bound, and on the 2-vCPU bench machine
    # every worker beyond the cores cost CPU per request (detail: 2.5 ms at 2 workers,
    # 3.4 at 3, 4.2 at 5); see docs/performance.md.
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--intake-clients", type=int, default=8)
    parser.add_argument("--intake-seconds", type=float, default=20.0)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS, help="Broker; a Redis db the bench may empty.")
    parser.add_argument("--python-clients", action="store_true", help="Python threads even when wrk is installed.")
    parser.add_argument("--reload", action="store_true", help="Truncate the cases first.")
    parser.add_argument("--plain", action="store_true", help="serve plain Django + simple-history, not fastpath")
    args = parser.parse_args(argv)

    var_dir = tempfile.mkdtemp(prefix="esc-bench-api-")
    _configure_env(args.database_url, var_dir, args.redis_url)
    _ensure_database(args.database_url)
    import redis

    broker = redis.Redis.from_url(args.redis_url)
    broker.flushdb()  # the bench's own db: queued page deliveries of earlier runs
    redis.Redis.from_url(os.environ["CACHE_URL"]).flushdb()  # and its cache db
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    data = _load(args.cases, args.reload)
    print(f"{data['cases']} cases loaded ({data['load_seconds']:.0f} s)", file=sys.stderr)

    port = free_port()
    env = {**os.environ}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "bench.plain_wsgi:application" if args.plain else "config.wsgi:application",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
    )
    results: dict[str, dict] = {}
    try:
        _wait_ready(port, data["reader_token"])
        ids = data["ids"]
        ids_file = Path(var_dir) / "ids.txt"
        ids_file.write_text("\n".join(map(str, ids)) + "\n")
        use_wrk = shutil.which("wrk") is not None and not args.python_clients
        data["client"] = "wrk (1 thread)" if use_wrk else "Python threads"
        scenarios = {
            "GET /api/v1/incidents/ (page 1, 50 rows)": ("list", lambda rng: "/api/v1/incidents/"),
            "GET /api/v1/incidents/?status=new&severity=S2": (
                "filtered",
                lambda rng: "/api/v1/incidents/?status=new&severity=S2",
            ),
            "GET /api/v1/incidents/?page=<random 1..200>": (
                "pages",
                lambda rng: f"/api/v1/incidents/?page={rng.randint(1, 200)}",
            ),
            "GET /api/v1/incidents/{id}/ (random of 100k)": (
                "detail",
                lambda rng: f"/api/v1/incidents/{rng.choice(ids)}/",
            ),
        }
        for name, (mode, make_path) in scenarios.items():
            if use_wrk:
                results[name] = _drive_wrk(port, data["reader_token"], args.clients, args.seconds, mode, str(ids_file))
            else:
                results[name] = _drive(port, data["reader_token"], args.clients, args.seconds, make_path)
            print(
                name, {k: round(v, 1) if isinstance(v, float) else v for k, v in results[name].items()}, file=sys.stderr
            )
        run_id = f"bench{int(time.time())}"
        intake_args = (port, data["bot_token"], data["customer"], args.intake_clients, args.intake_seconds, run_id)
        intake = _intake_wrk(*intake_args) if use_wrk else _intake(*intake_args)
        print("intake", {k: v for k, v in intake.items() if k != "ids"}, file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=30)
        broker.flushdb()
    time.sleep(2)  # let requests in flight when the clients stopped finish
    rows = _verify_intake(run_id, intake["created"])
    print("rows", rows, file=sys.stderr)
    _write_results(args, data, results, intake, rows)
    return 0


def _write_results(args: Any, data: dict, results: dict, intake: dict, rows: dict) -> None:
    cmd = (
        f"cd /work/main && .venv/bin/python -m bench.api_load --cases {args.cases} --clients {args.clients} "
        f"--seconds {args.seconds:g} --workers {args.workers} --intake-clients {args.intake_clients} "
        f"--intake-seconds {args.intake_seconds:g}"
    )
    if args.python_clients:
        cmd += " --python-clients"
    if args.reload:
        cmd += " --reload"
    lines = [
        "# API load benchmark",
        "",
        "Command (PostgreSQL on 127.0.0.1, database `esc_bench_api`; gunicorn on a free 127.0.0.1 port):",
        "",
        "```",
        cmd,
        "```",
        "",
        f"Machine: {os.cpu_count()} CPUs (shared by PostgreSQL, gunicorn and the load clients), "
        f"Python {platform.python_version()}, {platform.machine()}. gunicorn sync workers: {args.workers}. "
        f"Data: {data['cases']:,} cases (90 % resolved over the past year, 10 % open in the past fortnight, "
        "5 % of the resolved with a clock pause; bulk clones of a service-opened case, no history rows for the "
        "clones).",
        "",
        f"## List and detail: {args.clients} concurrent clients, closed loop, {args.seconds:g} s each after 3 s warm-up",
        "",
        f"Load generator: {data.get('client')}. Latency is client-measured wall time per request over "
        "loopback (connect, request, full response).",
        "",
        "| Endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | non-200 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | "
            f"{r['max']:.1f} | {r['errors']} |"
        )
    lines += [
        "",
        f"## Intake: {args.intake_clients} concurrent integration clients, {args.intake_seconds:g} s",
        "",
        f"- Cases created (201): **{intake['created']}** in {intake['elapsed']:.1f} s = "
        f"**{intake['cases_per_s']:.0f} cases/s**; non-201 answers: {intake['errors']} {intake['error_codes']}.",
        f"- Intake latency: p50 {intake['p50']:.0f} ms, p95 {intake['p95']:.0f} ms, p99 {intake['p99']:.0f} ms.",
        "- Rows written for this run's cases, counted in the database afterwards, including requests still in "
        "flight when the clients stopped (each S2 intake: the case and its history row, a resolve cycle, 2 SOP "
        "checklists with 5 items and their history rows, created / clock started / paged events with history, "
        "the pages to the Duty Manager on shift: in-app, and email with its delivery task published to Redis):",
        "",
        "| Rows | count |",
        "| --- | ---: |",
        *[f"| {k} | {v} |" for k, v in rows.items()],
        "",
    ]
    (RESULTS.with_name("RESULTS-api-plain.md") if args.plain else RESULTS).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
