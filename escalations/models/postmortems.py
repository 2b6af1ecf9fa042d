"""Root cause analyses (after-action reviews) and their action items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.lib.text import MAX_LONG_TEXT
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
    summary = models.TextField(max_length=MAX_LONG_TEXT)
    root_cause = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    what_went_well = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    what_went_wrong = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    contributing_factors = models.TextField(blank=True, max_length=MAX_LONG_TEXT)
    due_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    history = AuditHistory()

    class Meta:
        verbose_name = "root cause analysis"
        verbose_name_plural = "root cause analyses"
        indexes = [
            # Overdue RCAs (the deadline check, the managers' list): unpublished by due date.
            models.Index(fields=["due_at"], condition=~Q(status="published"), name="postmortem_open_due_idx"),
        ]

    def __str__(self) -> str:
        return f"RCA for {self.incident.reference}"

    @property
    def is_open(self) -> bool:
        return self.status != PostmortemStatus.PUBLISHED


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
        indexes = [
            # Overdue action items: open ones by due date.
            models.Index(fields=["due_date"], condition=Q(done_at__isnull=True), name="action_item_open_due_idx"),
        ]

    def __str__(self) -> str:
        return self.description


class ReminderStage(models.TextChoices):
    OWNER = "owner", "Owner told"
    MANAGER = "manager", "Managers told"


class RcaReminder(models.Model):
    """One stage of one overdue deadline told: an RCA's (``action_item`` empty) or an
    action item's, for the due instant it had then. Moving the due date makes a new
    deadline. The unique constraints are the exactly-once guard when two deadline
    checks race."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="reminders")
    action_item = models.ForeignKey(
        PostmortemActionItem, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    stage = models.CharField(max_length=10, choices=ReminderStage.choices)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField()
    history = AuditHistory()

    class Meta:
        ordering = ["sent_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["postmortem", "stage", "due_at"],
                condition=Q(action_item__isnull=True),
                name="rca_reminder_once_per_stage",
            ),
            models.UniqueConstraint(
                fields=["action_item", "stage", "due_at"],
                condition=Q(action_item__isnull=False),
                name="action_item_reminder_once_per_stage",
            ),
        ]

    def __str__(self) -> str:
        what = f"action item {self.action_item_id}" if self.action_item_id else f"RCA {self.postmortem_id}"
        return f"{what}: {self.get_stage_display()}"
