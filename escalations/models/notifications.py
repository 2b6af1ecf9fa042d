"""The notification outbox: rows written in the same transaction as the change that
caused them, delivered after commit by a Celery task, retried with backoff."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import NotificationChannel, NotificationStatus
from escalations.lib.text import MAX_REASON
from escalations.models.breaches import Escalation
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory


class Notification(models.Model):
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    escalation = models.ForeignKey(
        Escalation, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    address = models.CharField(max_length=500, blank=True, help_text="Email address or webhook URL.")
    subject = models.CharField(max_length=300)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=200, unique=True)
    status = models.CharField(max_length=12, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=6)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, max_length=MAX_REASON)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True, help_text="In-app: when the recipient saw it.")
    history = AuditHistory()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(attempts__lte=models.F("max_attempts")), name="notification_attempts_bounded"
            )
        ]
        indexes = [
            # Retry pass: pending rows whose next attempt is due.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="notification_retry_idx"),
            # Paging inbox: my in-app notifications, newest first.
            models.Index(fields=["recipient", "channel", "-created_at"], name="notification_inbox_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.recipient or self.address}: {self.subject}"
