"""python manage.py seed_demo — demo users, teams, shifts, customers and cases for
development. Idempotent; refuses to run unless DEBUG is on or --force is given."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from escalations.management.demo import demo_seed


class Command(BaseCommand):
    help = "Create demo data (users per role with known passwords, teams, shifts, customers, ~25 cases). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="Run even though DEBUG is off (never on a real deployment)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Demo users have published passwords: never create them on a real deployment by accident.
        if not (settings.DEBUG or options["force"]):
            raise CommandError(
                "seed_demo is for development: it creates users with known passwords. "
                "Run it with DEBUG=1, or pass --force if you really mean it."
            )
        result = demo_seed(now=timezone.now())
        created = ", ".join(f"{n} {k}" for k, n in result.created.items())
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready ({created} created; {result.cases_skipped} demo cases already there).")
        )
        self.stdout.write("Demo logins (development only):")
        for spec, was_created in result.users:
            role = "superuser" if spec.superuser else spec.group
            note = "" if was_created else "  (existing user: password as set when it was created)"
            self.stdout.write(f"  {spec.username:<10} {spec.password:<22} {role}{note}")
