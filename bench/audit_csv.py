"""The handoff audit's CSV export at 100,000 rows: it streams, in constant memory.

Reuses the pages benchmark's database (esc_bench_pages, 100,000 open cases) and adds one
handoff packet per case with SQL (bench data: no history rows) between two people of its
own. Delete them (``DELETE FROM escalations_handoffpacket``) before measuring the pages
again: they put 100,000 more rows in every case's access test. Streams
``/manage/handoffs.csv`` through Django's test Client as a Manager, reading the response
chunk by chunk like a browser download, and reports rows, bytes, wall time, and the
Python heap's peak (tracemalloc) for 10,000 rows and for all of them: a streamed export
has the same peak at both sizes.

    .venv/bin/python -m bench.audit_csv [--handoffs 100000]

Writes bench/RESULTS-audit-csv.md."""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from pathlib import Path

from bench.pages_bench import DEFAULT_DB, _configure_env, _ensure_database, _load

RESULTS = Path(__file__).resolve().parent / "RESULTS-audit-csv.md"


def _ensure_handoffs(n: int, sender, receiver) -> int:
    from django.db import connection

    from escalations.models import HandoffPacket

    existing = HandoffPacket.objects.count()
    if existing >= n:
        return existing
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO escalations_handoffpacket (
                incident_id, from_user_id, from_team_id, from_stage, to_user_id, to_team_id, to_stage,
                summary, customer_impact, actions_taken, hypothesis, next_steps, open_questions, links,
                acceptance_criteria, checklist_state, status, offered_at, accept_due_at, responded_at,
                responded_by_id, rejection_reason, is_ping_pong, ping_pong_reason, accept_breached_at)
            SELECT i.id, %s, NULL, 'triage', %s, NULL, 'triage',
                   'Checkout fails for EU cards, case ' || i.id, 'EU customers cannot pay', '', '',
                   'Roll back the gateway change', '', '', '', '[]'::jsonb,
                   CASE WHEN i.id %% 3 = 0 THEN 'rejected' ELSE 'accepted' END,
                   i.created_at, i.created_at + interval '15 minutes', i.created_at + interval '4 minutes',
                   %s, CASE WHEN i.id %% 3 = 0 THEN 'Off shift, please try the night team' ELSE '' END,
                   false, '', NULL
            FROM escalations_incident i
            WHERE NOT EXISTS (SELECT 1 FROM escalations_handoffpacket h WHERE h.incident_id = i.id)
            ORDER BY i.id
            LIMIT %s
            """,
            [sender.pk, receiver.pk, receiver.pk, n - existing],
        )
        cursor.execute("ANALYZE escalations_handoffpacket")
    return HandoffPacket.objects.count()


def _stream(client, url: str, limit: int | None = None, trace: bool = False) -> dict:
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    rows = size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
        if limit is not None and rows > limit:
            break
    seconds = time.perf_counter() - start
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    response.close()
    return {"rows": rows - 1, "bytes": size, "seconds": seconds, "peak_mib": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_PAGES_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--handoffs", type=int, default=100_000)
    args = parser.parse_args(argv)
    if not 1_000 <= args.handoffs <= 1_000_000:
        parser.error("--handoffs must be 1,000..1,000,000")
    _configure_env(args.database_url)
    _ensure_database(args.database_url)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from escalations.security import roles

    call_command("migrate", verbosity=0)
    _load(args.handoffs, reload=False)
    # Their own two people: the pages benchmark's agent must not be on 100,000 handoffs
    # (that would put every case in its access and change what its queue pages measure).
    User = get_user_model()
    sender, _ = User.objects.get_or_create(username="bench_sender", defaults={"first_name": "Sender"})
    receiver, _ = User.objects.get_or_create(username="bench_receiver", defaults={"first_name": "Receiver"})
    total = _ensure_handoffs(args.handoffs, sender, receiver)
    manager, _ = User.objects.get_or_create(username="bench_manager", defaults={"first_name": "Bench"})
    manager.groups.add(Group.objects.get(name=roles.MANAGERS))
    client = Client()
    client.force_login(manager)
    url = reverse("escalations:manage-handoffs-csv")
    _stream(client, url, limit=100)  # warm-up
    part = _stream(client, url, limit=10_000, trace=True)
    whole = _stream(client, url, trace=True)
    assert whole["rows"] == total, (whole["rows"], total)
    timed = _stream(client, url)  # tracemalloc slows Python down: time a run without it
    lines = [
        "# Handoff audit CSV export (streamed)",
        "",
        "```",
        f"cd /work/main && .venv/bin/python -m bench.audit_csv --handoffs {args.handoffs}",
        "```",
        "",
        f"{total:,} handoff packets in `esc_bench_pages`. Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}. The response is read chunk by chunk through "
        "Django's test Client (view, middleware, queries, CSV writing; no network). Peak is the Python heap's "
        "high-water mark during the download (tracemalloc, which slows Python several times: the last row is "
        "timed without it).",
        "",
        "| read | rows | bytes | seconds | peak heap MiB |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, r in (("first 10,000 rows", part), ("whole export", whole), ("whole export, timed", timed)):
        peak = f"{r['peak_mib']:.1f}" if r["peak_mib"] is not None else "—"
        lines.append(f"| {label} | {r['rows']:,} | {r['bytes']:,} | {r['seconds']:.1f} | {peak} |")
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
