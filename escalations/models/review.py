"""The weekly review's kept weeks: each complete ISO week's figure series, computed once
by escalations.reporting.review after the week ends, so the review page reads 13 rows instead of
aggregating a quarter of the cases on every view."""

from __future__ import annotations

from django.db import models

from escalations.models.history import AuditHistory


class ReviewWeek(models.Model):
    """Derived data, never edited by people: deleting a row (in the admin) makes the next
    view of the review compute that week again. Its history says when each week was
    kept and who deleted it."""

    week_start = models.DateTimeField(unique=True, help_text="Monday 00:00 UTC of the ISO week.")
    version = models.PositiveSmallIntegerField(help_text="escalations.review.ROLLUP_VERSION when computed.")
    figures = models.JSONField(help_text="Every figure family's values for the week, per severity.")
    computed_at = models.DateTimeField()
    history = AuditHistory()

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        return f"Review figures of the week from {self.week_start:%Y-%m-%d}"
