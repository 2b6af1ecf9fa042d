"""SOP templates (one-page plays with checklist items) and the checklists on a case."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from escalations.choices import ChecklistFact, SeverityKey, Stage
from escalations.lib.text import MAX_LONG_TEXT
from escalations.models.cases import Incident
from escalations.models.history import AuditHistory


class SOPTemplate(models.Model):
    """A one-page play. Applies to cases matching its severity, stage and category; a
    blank field matches any."""

    name = models.CharField(max_length=150, unique=True)
    severity = models.CharField(max_length=2, choices=SeverityKey.choices, blank=True)
    stage = models.CharField(max_length=10, choices=Stage.choices)
    category = models.CharField(max_length=50, blank=True)
    play = models.TextField(
        "one-page play", help_text="Plain text shown beside the checklist.", max_length=MAX_LONG_TEXT
    )
    active = models.BooleanField(default=True)
    history = AuditHistory()

    class Meta:
        ordering = ["severity", "stage", "name"]
        verbose_name = "SOP template"

    def __str__(self) -> str:
        return self.name


class SOPTemplateItem(models.Model):
    template = models.ForeignKey(SOPTemplate, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    required = models.BooleanField(default=True, help_text="Exit criterion: the stage cannot be left while open.")
    fact = models.CharField(
        max_length=30,
        choices=ChecklistFact.choices,
        blank=True,
        verbose_name="ticked by",
        help_text="The fact this item stands for: it ticks itself when the fact becomes true and cannot be ticked "
        "by hand before. Blank: ticked by people.",
    )
    history = AuditHistory()

    class Meta:
        ordering = ["template", "order"]
        verbose_name = "SOP template item"
        constraints = [models.UniqueConstraint(fields=["template", "order"], name="sop_item_order_unique")]

    def __str__(self) -> str:
        return self.text


class Checklist(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="checklists")
    template = models.ForeignKey(SOPTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    stage = models.CharField(max_length=10, choices=Stage.choices)
    title = models.CharField(max_length=150)
    play = models.TextField(
        blank=True, help_text="The play text as it was when the checklist was made.", max_length=MAX_LONG_TEXT
    )
    applies = models.BooleanField(
        default=True,
        help_text="Off once the case's severity no longer matches the template: its done items stay on record, "
        "its open items no longer gate the stage.",
    )
    history = AuditHistory()

    class Meta:
        ordering = ["incident", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "template"], condition=Q(template__isnull=False), name="checklist_template_once"
            )
        ]

    def __str__(self) -> str:
        return self.title


class ChecklistItem(models.Model):
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField()
    text = models.CharField(max_length=300)
    required = models.BooleanField(default=True)
    fact = models.CharField(max_length=30, choices=ChecklistFact.choices, blank=True, verbose_name="ticked by")
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    history = AuditHistory()

    class Meta:
        ordering = ["checklist", "order"]
        constraints = [
            models.UniqueConstraint(fields=["checklist", "order"], name="checklist_item_order_unique"),
            models.CheckConstraint(
                condition=Q(done_at__isnull=True, done_by__isnull=True)
                | Q(done_at__isnull=False, done_by__isnull=False),
                name="checklist_item_done_by_with_done_at",
            ),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def is_done(self) -> bool:
        return self.done_at is not None
