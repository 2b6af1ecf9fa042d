"""Root cause analyses (after-action reviews) and their action items."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from escalations.models.cases import Incident
from escalations.models.history import AuditHistory


class PostmortemStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    PUBLISHED = "published", "Published"


class Postmortem(models.Model):
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=PostmortemStatus.choices, default=PostmortemStatus.DRAFT)
    summary = models.TextField()
    root_cause = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    what_went_wrong = models.TextField(blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    history = AuditHistory()

    def __str__(self) -> str:
        return f"RCA for {self.incident.reference}"


class PostmortemActionItem(models.Model):
    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="action_items")
    description = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_date = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    history = AuditHistory()

    class Meta:
        ordering = ["postmortem", "id"]

    def __str__(self) -> str:
        return self.description
