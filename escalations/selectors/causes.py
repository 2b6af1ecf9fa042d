"""The breach-cause review queue: breaches nobody has confirmed a cause for, oldest
first, for Duty Managers and Managers. Drills are practice and never reviewed."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from escalations.models import Breach, BreachCauseOption
from escalations.security.access import case_rows_q, may_see_manager_pages

# The suggested-cause filter's value for breaches the facts suggested nothing for.
NO_SUGGESTION = "none"


@dataclass(frozen=True)
class BreachReviewFilters:
    severity: str = ""
    kind: str = ""
    team_id: int | None = None
    suggested: str = ""  # a cause code, NO_SUGGESTION, or "" for any


def breach_review_list(*, user, filters: BreachReviewFilters) -> QuerySet[Breach]:
    """Unreviewed breaches of real cases the user may see, oldest detection first
    (breach_review_idx), with their case, its team and the suggested cause."""
    if not may_see_manager_pages(user):
        raise PermissionDenied("The breach review is for Duty Managers and Managers.")
    qs = Breach.objects.filter(cause_confirmed_at__isnull=True, incident__is_drill=False).select_related(
        "incident__team", "cause_suggested"
    )
    qs = qs.filter(case_rows_q(user))
    if filters.severity:
        qs = qs.filter(severity=filters.severity)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.team_id is not None:
        qs = qs.filter(incident__team_id=filters.team_id)
    if filters.suggested == NO_SUGGESTION:
        qs = qs.filter(cause_suggested__isnull=True)
    elif filters.suggested:
        qs = qs.filter(cause_suggested_id=filters.suggested)
    return qs.order_by("detected_at", "id")


def breach_cause_choices() -> list[BreachCauseOption]:
    """The causes a reviewer may pick: the active ones, in list order."""
    return list(BreachCauseOption.objects.filter(is_active=True).order_by("position", "label"))
