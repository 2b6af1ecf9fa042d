"""Reads about root cause analyses: the open and overdue ones for the managers' list and
the weekly digest, and one case's RCA with what its page shows (the case's timeline and
breach causes). Overdue is judged in the case calendar's zone: an action item due on
27 November is overdue from midnight that night where the case's calendar lives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet

from escalations.choices import EventKind
from escalations.models import Breach, CaseEvent, Incident, Postmortem, PostmortemActionItem, PostmortemStatus
from escalations.sla.deadlines import date_due_at

# The case's events an RCA's timeline shows: what happened to the customer and who acted,
# not every checklist tick.
RCA_TIMELINE_KINDS = (
    EventKind.CREATED,
    EventKind.CLOCK_STARTED,
    EventKind.ACKNOWLEDGED,
    EventKind.PAUSED,
    EventKind.RESUMED,
    EventKind.SEVERITY_CHANGED,
    EventKind.STAGE_CHANGED,
    EventKind.ASSIGNED,
    EventKind.CUSTOMER_UPDATED,
    EventKind.HANDOFF_OFFERED,
    EventKind.HANDOFF_ACCEPTED,
    EventKind.HANDOFF_REJECTED,
    EventKind.PING_PONG,
    EventKind.BREACHED,
    EventKind.ESCALATED,
    EventKind.ESCALATION_ACKNOWLEDGED,
    EventKind.RESOLVED,
    EventKind.REOPENED,
    EventKind.CLOSED,
)


def open_postmortems() -> QuerySet[Postmortem]:
    """Unpublished RCAs of real cases, soonest due first, with the counts a list shows
    (postmortem_open_due_idx)."""
    return (
        Postmortem.objects.exclude(status=PostmortemStatus.PUBLISHED)
        .filter(incident__is_drill=False)
        .select_related("incident", "author")
        .annotate(open_items=Count("action_items", filter=Q(action_items__done_at__isnull=True)))
        .order_by("due_at", "pk")
    )


def overdue_postmortems(*, now: datetime) -> QuerySet[Postmortem]:
    return open_postmortems().filter(due_at__lte=now)


@dataclass(frozen=True)
class OverdueItem:
    item: PostmortemActionItem
    due_at: datetime
    overdue_for: timedelta


def overdue_action_items(*, now: datetime, limit: int = 500) -> list[OverdueItem]:
    """Open action items past their due date, most overdue first. The database narrows
    to items due on or before today in UTC (action_item_open_due_idx) — a superset,
    since no zone is more than a day from UTC — and each is then judged in its case
    calendar's zone."""
    candidates = (
        PostmortemActionItem.objects.filter(done_at__isnull=True, due_date__lte=now.date())
        .filter(postmortem__incident__is_drill=False)
        .select_related("postmortem__incident__policy__calendar", "postmortem__author", "owner")
        .order_by("due_date", "pk")[:limit]
    )
    out = []
    for item in candidates:
        due = date_due_at(item.due_date, item.postmortem.incident.policy.calendar.timezone)
        if due <= now:
            out.append(OverdueItem(item, due, now - due))
    return out


def postmortem_page_get(*, incident: Incident) -> Postmortem | None:
    """The case's RCA with its author and action items (owners joined), or None."""
    postmortem = Postmortem.objects.filter(incident=incident).select_related("author").first()
    if postmortem is not None:
        postmortem.items = list(postmortem.action_items.select_related("owner").order_by("pk"))
    return postmortem


def rca_timeline(*, incident: Incident) -> list[CaseEvent]:
    """The case's story for its RCA, oldest first: events, breaches, escalations,
    handoffs and customer updates as the timeline recorded them."""
    return list(
        CaseEvent.objects.filter(incident=incident, kind__in=RCA_TIMELINE_KINDS)
        .select_related("actor")
        .order_by("at", "id")
    )


def breach_causes(*, incident: Incident) -> list[Breach]:
    """The case's breaches with their causes (as reviewed, or "Not yet reviewed")."""
    return list(Breach.objects.filter(incident=incident).select_related("cause").order_by("detected_at", "id"))
