"""Clock pauses: only for customer or third-party waits, visible to everyone."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import PauseReason
from escalations.lib.text import MAX_REASON
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory


class ClockPause(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="pauses")
    reason = models.CharField(max_length=20, choices=PauseReason.choices)
    note = models.TextField(max_length=MAX_REASON)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = AuditHistory()

    class Meta:
        ordering = ["started_at"]
        constraints = [
            # At most one running pause per case.
            models.UniqueConstraint(
                fields=["incident"], condition=Q(ended_at__isnull=True), name="pause_one_open_per_incident"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="pause_ends_after_start",
            ),
            models.CheckConstraint(condition=~Q(note=""), name="pause_note_required"),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} from {self.started_at:%Y-%m-%d %H:%M}"
