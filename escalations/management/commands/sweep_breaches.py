"""Run one breach sweep now, synchronously, and print what it found.

For operators, and the cron fallback when no beat runs (``* * * * * manage.py
sweep_breaches``): it is safe alongside a running beat, as sweeps claim rows with
skip-locked and unique constraints. ``--status`` only reports whether the sweep is
alive (exit status 1 when stale), for a monitoring check."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from escalations.services.engine.health import sweep_status
from escalations.services.engine.sweep import sweep_run


class Command(BaseCommand):
    help = "Run one breach sweep synchronously and print what it found (--status: report staleness only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--status", action="store_true", help="Report the last sweep; exit 1 if it is stale.")
        parser.add_argument("--batch-size", type=int, default=None, help="Cases per transaction (default: setting).")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print JSON instead of text.")

    def handle(self, *args, status: bool, batch_size: int | None, as_json: bool, **options) -> None:
        now = timezone.now()
        if status:
            report = sweep_status(now=now)
            if as_json:
                self.stdout.write(_dumps(report))
            elif report["last"] is None:
                self.stdout.write("No sweep has run yet.")
            else:
                last = report["last"]
                self.stdout.write(
                    f"Last sweep finished {report['age_seconds']} s ago ({last['source']}): examined "
                    f"{last['examined']}, breaches {last['breaches']}, warnings {last['warnings']}, "
                    f"escalations {last['escalations']}, errors {last['errors']}, {last['duration_ms']} ms. "
                    f"Backlog: {report['backlog']}."
                )
            if not report["ok"]:
                raise CommandError(f"Sweep is not healthy: {report['reason']}")
            return
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = sweep_run(now=now, source="command", batch_size=batch_size)
        if as_json:
            self.stdout.write(_dumps(result.as_dict()))
            return
        self.stdout.write(
            f"Swept at {now.isoformat()}: examined {result.examined} case(s) in {result.batches} batch(es); "
            f"breaches {result.breaches} (handoff {result.handoff_breaches}), warnings {result.warnings}, "
            f"escalations {result.escalations}, notifications {result.notifications}, errors {result.errors}; "
            f"{result.duration_ms} ms."
        )
        if result.breached_incident_ids:
            refs = ", ".join(f"ESC-{pk:06d}" for pk in result.breached_incident_ids[:20])
            self.stdout.write(f"Breached: {refs}")


def _dumps(value: dict) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
