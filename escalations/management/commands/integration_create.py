"""Create (or refresh) an integration account for POST /api/v1/intake/ and print its token.

An integration (monitoring, CRM, chat tool) is a Django user that cannot log in to the
web app (no usable password) and holds exactly the permissions intake needs: open cases
and read them back. Its DRF token is the integration token; cases it opens are created
by, and audited as, that user.

    python manage.py integration_create monitoring-bot
    python manage.py integration_create monitoring-bot --rotate   # new token, old one stops working
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token

INTEGRATION_PERMISSIONS = ("add_incident", "view_incident")


class Command(BaseCommand):
    help = "Create an integration user for the intake API and print its token."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing token.")

    @transaction.atomic
    def handle(self, *args: Any, username: str, rotate: bool, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": username, "last_name": "(integration)"}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        perms = Permission.objects.filter(content_type__app_label="escalations", codename__in=INTEGRATION_PERMISSIONS)
        user.user_permissions.add(*perms)
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stderr.write(f"{'Created' if created else 'Updated'} integration user {username}.")
        self.stdout.write(token.key)
