"""Create (or refresh) an integration account for POST /api/v1/intake/ and print a new token.

An integration (monitoring, CRM, chat tool) is a Django user in the Integrations role
(intake only) that cannot sign in (no usable password). Its tokens are named, expire
after INTEGRATION_TOKEN_TTL_DAYS (0: never) unless --days says otherwise, and are listed
and revoked in the admin (API tokens). Cases it opens are created by, and audited as,
that user. Each run issues a new token (only its digest is kept, so an old one cannot be
shown again); --rotate revokes the others first.

    python manage.py integration_create monitoring-bot --name "Datadog production"
    python manage.py integration_create monitoring-bot --rotate   # new token, old ones stop working
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from escalations.security.roles import INTEGRATIONS
from escalations.services import tokens


class Command(BaseCommand):
    help = "Create an integration user for the intake API and print a new token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="What uses the token (shown in the admin).")
        parser.add_argument(
            "--days", type=int, help="Lifetime in days, 0 for never (default INTEGRATION_TOKEN_TTL_DAYS)."
        )
        parser.add_argument("--rotate", action="store_true", help="Revoke the integration's other tokens.")

    @transaction.atomic
    def handle(self, *args: Any, username: str, name: str, days: int | None, rotate: bool, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username, "last_name": "(integration)"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=INTEGRATIONS))
        if rotate:
            tokens.token_revoke_all(user=user, actor=None, reason="rotated with integration_create")
        ttl: Any = ... if days is None else (timedelta(days=days) if days > 0 else None)
        token, key = tokens.token_create(user=user, actor=None, name=name or f"{username} (command line)", ttl=ttl)
        expires = f"expires {token.expiry:%Y-%m-%d %H:%M} UTC" if token.expiry else "never expires"
        self.stderr.write(f"{'Created' if created else 'Updated'} integration user {username}; token {expires}.")
        self.stdout.write(key)
