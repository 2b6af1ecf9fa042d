"""Keeping the weekly review's complete weeks: their figures no longer move (their
events are in the past), so each is aggregated once and kept (``ReviewWeek``), by the
beat, never by a page view."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from simple_history.utils import bulk_create_with_history

from escalations.models import ReviewWeek
from escalations.reporting.review import (
    REVIEW_WEEKS,
    ROLLUP_VERSION,
    kept_weeks,
    last_complete_week,
    review_weeks,
    weeks_computed,
)
from escalations.services.common import system_user


def review_weeks_keep(*, now: datetime, weeks: int = REVIEW_WEEKS) -> int:
    """Compute and keep the last complete week and any of the ``weeks - 1`` before it not
    kept yet (the beat runs this every 5 minutes: one query when every week is kept).
    Returns how many weeks it computed."""
    span = [w for w in review_weeks(last_complete_week(now), weeks) if w.ends_at <= now]
    with transaction.atomic():
        missing = [w for w in span if w.starts_at not in kept_weeks(span)]
        if not missing:
            return 0
        fresh = weeks_computed(missing)
        ReviewWeek.objects.filter(week_start__in=[w.starts_at for w in missing]).delete()
        bulk_create_with_history(
            [
                ReviewWeek(week_start=w.starts_at, version=ROLLUP_VERSION, figures=fresh[w.starts_at], computed_at=now)
                for w in missing
            ],
            ReviewWeek,
            ignore_conflicts=True,
            default_user=system_user(),
        )
    return len(missing)
