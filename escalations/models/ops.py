"""Monitoring the monitor: one heartbeat row per breach sweep."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.history import AuditHistory


class SweepHeartbeat(models.Model):
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    source = models.CharField(
        max_length=30,
        default="beat",
        help_text="beat, wakeup (a sweep the previous one scheduled at the next deadline), beat-inline (beat "
        "sweeping in its own process while it cannot reach the broker), command or test.",
    )
    examined = models.PositiveIntegerField(default=0)
    breaches = models.PositiveIntegerField(default=0)
    warnings = models.PositiveIntegerField(default=0)
    escalations = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    history = AuditHistory()

    class Meta:
        ordering = ["-finished_at"]
        indexes = [models.Index(fields=["-finished_at"], name="heartbeat_latest_idx")]

    def __str__(self) -> str:
        return f"Sweep at {self.finished_at:%Y-%m-%d %H:%M:%S}: {self.breaches} breaches"


class FormSubmission(models.Model):
    """A workspace form sent once: its one-time token and where it led. A second POST
    with the same token (Back and resubmit, a double click, a replayed request) shows
    the first result instead of doing the work again. Rows older than FORM_TOKEN_DAYS
    are deleted by the hourly purge task."""

    token = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    result_url = models.CharField(max_length=500, blank=True, help_text="Blank while the first POST is running.")
    history = AuditHistory()

    class Meta:
        indexes = [models.Index(fields=["created_at"], name="form_submission_age_idx")]

    def __str__(self) -> str:
        return f"{self.token} → {self.result_url or '(running)'}"
