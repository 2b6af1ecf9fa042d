"""Who may get in: API tokens, the access audit log, and the history of users and groups.

API tokens are django-rest-knox tokens (KNOX_TOKEN_MODEL points here): only a SHA-512
digest is stored, and the first characters of the key (``token_key``) find the row.
This model adds a name, so an integration's tokens can be told apart, listed and
revoked in the admin.

The access log records what simple-history cannot see as a row change with an actor:
tokens issued and revoked, password changes (the hash itself is never copied into
history) and login lockouts reset. Users and groups, with their group and permission
memberships, are audited by simple-history like every other edited model.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from knox.models import AbstractAuthToken
from simple_history import register

from escalations.models.history import AuditHistory


class ApiToken(AbstractAuthToken):
    """One API key. Revoking it deletes the row (the access log keeps the record)."""

    name = models.CharField(
        max_length=100, blank=True, help_text="What uses this token, e.g. 'Datadog production'. Shown in the admin."
    )
    # Issued ("+") and revoked ("-") rows, with the administrator or user who did it.
    history = AuditHistory()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.token_key}… ({self.name or 'unnamed'})"


class AccessAction(models.TextChoices):
    TOKEN_CREATED = "token_created", "API token issued"
    TOKEN_REVOKED = "token_revoked", "API token revoked"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    LOCKOUT_RESET = "lockout_reset", "Login lockout reset"


class AccessEvent(models.Model):
    """Append-only: who did what to whose access, and when."""

    at = models.DateTimeField()
    action = models.CharField(max_length=30, choices=AccessAction.choices)
    # Null only where nobody signed in did it (a management command run by an operator).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The account concerned. The name is kept as text too: it outlives a deleted user,
    # and a lockout can name a username that has no account.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject_name = models.CharField(max_length=150, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    # Like CaseEvent: rows are only ever added, but every model keeps the same audit.
    history = AuditHistory()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The admin's list, newest first, filtered by action.
            models.Index(fields=["action", "at"], name="access_event_action_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()} ({self.subject_name})"


class UserHistory(AuditHistory):
    """A web or admin sign-in saves the user's last_login: that is not a change anyone
    needs in the audit, and one history row per sign-in would drown the real ones."""

    def post_save(self, instance: Any, created: bool, using: str | None = None, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if not created and update_fields is not None and set(update_fields) <= {"last_login"}:
            return
        super().post_save(instance, created, using=using, **kwargs)


# The password hash stays out of the copies (a password change is an AccessEvent), and
# so does last_login (see UserHistory). Group and permission memberships are tracked:
# granting a role is the change an audit most needs to see.
register(
    get_user_model(),
    app="escalations",
    records_class=UserHistory,
    excluded_fields=["password", "last_login"],
    m2m_fields=["groups", "user_permissions"],
)
register(Group, app="escalations", records_class=AuditHistory, m2m_fields=["permissions"])
