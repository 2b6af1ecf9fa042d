"""The customer communications log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.lib.text import MAX_LONG_TEXT
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory
from escalations.models.org import Channel


class CustomerUpdate(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="customer_updates")
    body = models.TextField(max_length=MAX_LONG_TEXT)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField()
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    was_late = models.BooleanField(default=False, help_text="Posted after the update was due.")
    history = AuditHistory()

    class Meta:
        ordering = ["posted_at"]
        constraints = [models.CheckConstraint(condition=~Q(body=""), name="customer_update_body_required")]
        indexes = [
            models.Index(fields=["incident", "posted_at"], name="update_incident_time_idx"),
            # Weekly review: updates posted in a range of weeks.
            models.Index(fields=["posted_at"], name="update_posted_idx"),
        ]

    def __str__(self) -> str:
        return f"Update on {self.incident_id} at {self.posted_at:%Y-%m-%d %H:%M}"
