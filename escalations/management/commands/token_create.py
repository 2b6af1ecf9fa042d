"""Issue an API token for a person from the command line and print it (shown once).

People normally get tokens from POST /api/v1/auth/token/; this is the operator's way,
e.g. for a superuser, who cannot get one with a password. The token expires after
API_TOKEN_TTL_HOURS unless --hours says otherwise (a person's token always expires).
Integrations: use integration_create or the admin.

    python manage.py token_create alice --name "alice's laptop script"
    python manage.py token_create admin --hours 2
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from escalations.services import tokens


class Command(BaseCommand):
    help = "Issue an expiring API token for a user and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What uses the token (shown in the admin).")
        parser.add_argument("--hours", type=int, help="Lifetime in hours (default API_TOKEN_TTL_HOURS).")

    def handle(self, *args: Any, username: str, name: str, hours: int | None, **options: Any) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        hours = settings.API_TOKEN_TTL_HOURS if hours is None else hours
        if hours <= 0:
            raise CommandError("--hours must be positive: a person's token always expires.")
        token, key = tokens.token_create(user=user, actor=None, name=name or "command line", ttl=timedelta(hours=hours))
        self.stderr.write(f"Token for {username}, expires {token.expiry:%Y-%m-%d %H:%M} UTC.")
        self.stdout.write(key)
