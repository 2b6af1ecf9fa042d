"""The kept weeks: each complete ISO week's figures, computed once after the week ends
(escalations.reporting.series, kept by escalations.services.review_weeks from the beat), so
the review page, the digest and the API read rows instead of aggregating a quarter of the
cases on a request."""

from __future__ import annotations

from django.db import models

from escalations.models.history import AuditHistory


class ReviewWeek(models.Model):
    """Derived data, never edited by people: deleting a row (in the admin) makes the beat
    compute that week again on its next run. Its history says when each week was
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
