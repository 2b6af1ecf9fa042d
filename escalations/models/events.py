"""The append-only log of business events, read by timelines and the manager audit."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import EventKind
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory


class CaseEvent(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    old = models.JSONField(default=dict, blank=True)
    new = models.JSONField(default=dict, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    history = AuditHistory()

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # Timeline of one case, oldest or newest first.
            models.Index(fields=["incident", "at", "id"], name="event_timeline_idx"),
            # Weekly review and audits: events of a kind in a period.
            models.Index(fields=["kind", "at"], name="event_kind_time_idx"),
            # Weekly review: severities set by a person in a period (escalations.reporting.live
            # filters with this very condition), without reading every case-opened event.
            models.Index(
                fields=["at"],
                condition=Q(kind__in=["severity_changed", "created"], new__source="manual"),
                name="event_manual_severity_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}"
