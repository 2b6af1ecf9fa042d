"""Reads, and the one vetted accessor per object for "may this user see/change it".

Every door (web view, API endpoint) fetches cases through these so the access rule and
the select_related that keeps list pages free of N+1 queries are written once."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from escalations.choices import OPEN_STATUSES, EventKind, HandoffStatus
from escalations.models import (
    Breach,
    CaseEvent,
    Checklist,
    ChecklistItem,
    ClockPause,
    Escalation,
    HandoffPacket,
    Incident,
)
from escalations.security.access import case_rows_q, incident_access_q, user_is_staff_member, user_may_change_cases
from escalations.sla import QueueRank

# Columns every list row shows: one join each, never a query per row.
LIST_RELATED = ("customer", "channel", "team", "stage_dri", "commander", "policy")


def incident_get_for_user(*, user, pk: int, for_change: bool = False, queryset: QuerySet | None = None) -> Incident:
    """The case ``pk`` if ``user`` may see it (and change it, with ``for_change``).
    Raises PermissionDenied for a user without a case role, Http404 for a case that is
    missing or that the user may not see (no id probing)."""
    if not user_is_staff_member(user):
        raise PermissionDenied("You do not have access to cases.")
    if for_change and not user_may_change_cases(user):
        raise PermissionDenied("You may view cases but not change them.")
    qs = queryset if queryset is not None else Incident.objects.select_related(*LIST_RELATED, "acknowledged_by")
    try:
        return qs.filter(incident_access_q(user, for_change=for_change)).get(pk=pk)
    except (Incident.DoesNotExist, ValueError, TypeError):
        raise Http404("No such case.") from None


def incident_list(*, user) -> QuerySet[Incident]:
    """The cases the user may see, with what list rows show joined in."""
    if not user_is_staff_member(user):
        raise PermissionDenied("You do not have access to cases.")
    return Incident.objects.select_related(*LIST_RELATED).filter(incident_access_q(user))


# Work-queue order: breached, warning, running, then waiting or not started
# (escalations.sla.QueueRank); within a band the nearest (or most overdue) deadline,
# then the most severe. The API's default order too (closed cases come last).
QUEUE_ORDER = ("queue_rank", "next_deadline_at", "severity", "-id")


def queue_list(*, user, queue: str, now: datetime) -> QuerySet[Incident]:
    """Open cases of a work queue in QUEUE_ORDER (served by the partial incident_queue_*
    indexes)."""
    qs = incident_list(user=user).filter(status__in=OPEN_STATUSES)
    if queue == "mine":
        qs = qs.filter(Q(stage_dri=user) | Q(commander=user))
    elif queue == "team":
        qs = qs.filter(team__in=user.teams.all())
    elif queue == "unassigned":
        qs = qs.filter(stage_dri__isnull=True)
    elif queue == "at_risk":
        qs = qs.filter(at_risk_q(now))
    elif queue != "all":
        raise Http404("No such queue.")
    return qs.order_by(*QUEUE_ORDER)


def breached_q() -> Q:
    """Cases breached now (``sla.breached_clocks``) as a filter: the breached band the
    services store in ``queue_rank`` from that function on every change, so the API's
    ``?breached=`` and the queues' breached band are one answer (and an index scan)."""
    return Q(queue_rank=QueueRank.BREACHED)


def at_risk_q(now: datetime) -> Q:
    """Breached, or past a warning threshold of a live clock."""
    return (
        breached_q()
        | Q(acknowledged_at__isnull=True, ack_warn_at__lte=now)
        | Q(resolve_warn_at__lte=now)
        | Q(update_warn_at__lte=now)
    )


def incident_detail(*, user, pk: int, for_change: bool = False) -> Incident:
    """A case with everything its page shows prefetched: pauses (with who paused),
    checklists and items, handoffs."""
    qs = Incident.objects.select_related(*LIST_RELATED, "acknowledged_by").prefetch_related(
        Prefetch("pauses", queryset=ClockPause.objects.select_related("started_by", "ended_by").order_by("started_at")),
        Prefetch(
            "checklists",
            queryset=Checklist.objects.order_by("id").prefetch_related(
                Prefetch("items", queryset=ChecklistItem.objects.select_related("done_by").order_by("order"))
            ),
        ),
        Prefetch(
            "handoffs",
            queryset=HandoffPacket.objects.select_related(
                "from_user", "to_user", "from_team", "to_team", "responded_by"
            ).order_by("-offered_at"),
        ),
    )
    return incident_get_for_user(user=user, pk=pk, for_change=for_change, queryset=qs)


# The case page's timeline filters: what the customer saw, what people changed, what the
# engine did. "all" shows every event.
TIMELINE_FILTERS = {
    "all": ("All", None),
    "customer": (
        "Customer-facing",
        {EventKind.CUSTOMER_UPDATED, EventKind.PAUSED, EventKind.RESUMED, EventKind.RESOLVED,
         EventKind.REOPENED, EventKind.CLOSED},
    ),
    "changes": (
        "Changes",
        {EventKind.CREATED, EventKind.CLOCK_STARTED, EventKind.ACKNOWLEDGED, EventKind.STATUS_CHANGED,
         EventKind.SEVERITY_CHANGED, EventKind.TARGETS_CHANGED, EventKind.STAGE_CHANGED, EventKind.ASSIGNED,
         EventKind.EDITED, EventKind.CHECKLIST_ITEM_DONE, EventKind.CHECKLIST_ITEM_REOPENED,
         EventKind.HANDOFF_OFFERED, EventKind.HANDOFF_ACCEPTED, EventKind.HANDOFF_REJECTED, EventKind.PING_PONG,
         EventKind.ESCALATION_ACKNOWLEDGED, EventKind.EXECUTIVE_REQUESTED, EventKind.EXECUTIVE_DECIDED,
         EventKind.CREDIT_REQUESTED, EventKind.CREDIT_DECIDED, EventKind.BREACH_CAUSE_CONFIRMED},
    ),
    "system": (
        "System",
        {EventKind.WARNING, EventKind.BREACHED, EventKind.MET, EventKind.MISSED, EventKind.ESCALATED,
         EventKind.PAGED, EventKind.NOTE},
    ),
}  # fmt: skip


def incident_timeline(
    *, incident: Incident, newest_first: bool = True, limit: int | None = None, show: str = "all"
) -> list[CaseEvent]:
    """The business events of a case (those of the ``show`` filter), with their actors,
    in one query."""
    order = ("-at", "-id") if newest_first else ("at", "id")
    qs = CaseEvent.objects.filter(incident=incident).select_related("actor").order_by(*order)
    kinds = TIMELINE_FILTERS.get(show, TIMELINE_FILTERS["all"])[1]
    if kinds is not None:
        qs = qs.filter(kind__in=kinds)
    return list(qs[:limit] if limit else qs)


def checklist_items_for(*, incident: Incident) -> QuerySet[ChecklistItem]:
    return (
        ChecklistItem.objects.filter(checklist__incident=incident)
        .select_related("checklist", "done_by")
        .order_by("checklist_id", "order")
    )


def handoff_get_for_user(*, user, pk: int) -> HandoffPacket:
    if not user_may_change_cases(user):
        raise PermissionDenied("You may not answer handoffs.")
    try:
        return (
            HandoffPacket.objects.select_related("incident", "from_user", "to_user", "to_team")
            .filter(case_rows_q(user))
            .get(pk=pk)
        )
    except (HandoffPacket.DoesNotExist, ValueError, TypeError):
        raise Http404("No such handoff.") from None


def handoff_inbox(*, user) -> QuerySet[HandoffPacket]:
    """Offers waiting for this user: to them, or to a team they belong to."""
    return (
        HandoffPacket.objects.filter(status=HandoffStatus.OFFERED)
        .filter(Q(to_user=user) | Q(to_user__isnull=True, to_team__in=user.teams.all()))
        .select_related("incident", "incident__customer", "from_user", "to_team")
        .order_by("accept_due_at")
    )


def handoffs_mark_expired(packets: list[HandoffPacket]) -> list[HandoffPacket]:
    """Give each offer whose acceptance time box breached ``expired_escalation``: the
    escalation that breach raised (None when the case was closed or it found no rung).
    One query for the lot."""
    late = [p.pk for p in packets if p.accept_breached_at]
    found: dict[int, Escalation] = {}
    if late:
        for escalation in Escalation.objects.filter(breach__handoff_id__in=late).select_related("breach"):
            found.setdefault(escalation.breach.handoff_id, escalation)
    for packet in packets:
        packet.expired_escalation = found.get(packet.pk)
    return packets


def breach_list(*, user) -> QuerySet[Breach]:
    """Breaches of the cases the user may see, newest first."""
    if not user_is_staff_member(user):
        raise PermissionDenied("You do not have access to cases.")
    return Breach.objects.order_by("-detected_at", "-id").filter(case_rows_q(user))
