"""Answering the escalation chain.

Each rung the sweep raises a case to pages that rung's people and starts a wait
(``Incident.next_escalation_at``, the next rung's ``EscalationStep.wait``): if nobody it
paged acknowledges in that time, the chain climbs one rung past it
(``escalations.sla.sweep``). The rung is acknowledged — and its wait stops — when

- the case is acknowledged (``incident_acknowledge``, by anyone who may work it), or
- a person the rung paged answers their page in the paging inbox: "Acknowledge" on the
  page, or "Mark all read" over it (``pages_acknowledge``).

The chain then stays on that rung until a new breach raises it one more. Acknowledging
an earlier rung after the chain went past it is recorded on that rung, and does not stop
the current rung's wait: only the people paged for a rung answer for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from simple_history.utils import bulk_update_with_history

from escalations import fastpath
from escalations.choices import EventKind, NotificationChannel
from escalations.models import Escalation, Incident, Notification
from escalations.security.access import user_is_staff_member
from escalations.selectors.clocks import pauses_by_incident
from escalations.services.clocks import CLOCK_FIELDS, incident_recompute_clocks
from escalations.services.common import event_build, events_save
from escalations.services.notifications import notifications_mark_read


def _answer(
    rungs: Iterable[Escalation], incidents: Mapping[int, Incident], *, actor, now: datetime, how: str
) -> tuple[list[Escalation], list[Incident]]:
    """Stamp the unacknowledged ``rungs`` acknowledged by ``actor`` at ``now`` (with their
    history rows and a timeline event each) and stop the wait of every case in
    ``incidents`` (locked by the caller) whose current rung is one of them. Returns the
    rungs stamped and the cases whose wait stopped; saving the cases is the caller's."""
    answered: list[Escalation] = []
    stopped: list[Incident] = []
    events = []
    for rung in rungs:
        if rung.acknowledged_at is not None:
            continue
        rung.acknowledged_at, rung.acknowledged_by = now, actor
        answered.append(rung)
        incident = incidents[rung.incident_id]
        stops = rung.level == incident.escalation_level and incident.next_escalation_at is not None
        if stops:
            incident.next_escalation_at = None
            stopped.append(incident)
        events.append(
            event_build(
                incident=incident,
                kind=EventKind.ESCALATION_ACKNOWLEDGED,
                actor=actor,
                at=now,
                new={"level": rung.level, "wait_stopped": stops},
                detail=f"Level {rung.level} acknowledged {how}"
                + ("; the chain stays at this level unless a new breach happens" if stops else ""),
            )
        )
    if answered:
        bulk_update_with_history(answered, Escalation, ["acknowledged_at", "acknowledged_by"], default_user=actor)
        events_save(events, actor=actor)
    return answered, stopped


def incident_rung_acknowledge(incident: Incident, *, actor, now: datetime) -> list[str]:
    """Acknowledging the case answers the rung it is on: the rung is stamped (when it is
    not yet) and the chain stops climbing on its timer. For ``incident_acknowledge``,
    with the case locked; returns the fields to save with it."""
    if incident.escalation_level:
        rungs = Escalation.objects.select_for_update().filter(incident=incident, level=incident.escalation_level)
        _answer(rungs, {incident.pk: incident}, actor=actor, now=now, how="by acknowledging the case")
    incident.next_escalation_at = None
    return ["next_escalation_at"]


@dataclass(frozen=True)
class PagesAnswered:
    read: int  # pages marked read
    acknowledged: int  # escalations newly acknowledged
    stopped: list[str]  # references of the cases whose chain stopped climbing


def pages_acknowledge(*, user, now: datetime, page: int | None = None) -> PagesAnswered:
    """The paging inbox's answer. ``page``: one of ``user``'s in-app pages — it is marked
    read, with their other pages of the same escalation; None ("Mark all read"): every
    unread in-app page of theirs. Each escalation among those pages that is not yet
    acknowledged is acknowledged by ``user``, whom it paged; a case whose current rung it
    is stops climbing on its timer. The cases are saved without a version bump (only
    bookkeeping changes, as when the sweep climbs), so nobody's open form goes stale."""
    with transaction.atomic():
        mine = Notification.objects.filter(recipient=user, channel=NotificationChannel.IN_APP)
        if page is None:
            scope = mine.filter(read_at__isnull=True)
        else:
            escalation_id = mine.filter(pk=page).values_list("escalation_id", flat=True).first()
            scope = mine.filter(pk=page) if escalation_id is None else mine.filter(escalation_id=escalation_id)
        pages = list(scope.values_list("pk", "escalation_id", "escalation__incident_id"))
        # Only an in-app page answers a rung (an email reaches an address, not a person
        # signed in), and only for someone who holds a case role: a page to an account
        # that cannot open the case is marked read and answers nothing.
        answering = [p for p in pages if p[1] is not None] if user_is_staff_member(user) else []
        rung_ids = {escalation for _, escalation, _ in answering}
        # Lock order: cases, then their rungs, then the pages — as incident_acknowledge
        # takes the case before the acknowledger's pages.
        incidents = {
            i.pk: i
            for i in Incident.objects.select_for_update()
            .filter(pk__in={case for _, _, case in answering})
            .order_by("pk")
        }
        rungs = Escalation.objects.select_for_update().filter(pk__in=rung_ids).order_by("pk")
        how = "by marking its page read" if page is None else "from the paging inbox"
        answered, stopped = _answer(list(rungs), incidents, actor=user, now=now, how=how)
        if stopped:
            pauses = pauses_by_incident(stopped)
            for incident in stopped:
                incident_recompute_clocks(incident, now=now, pauses=pauses[incident.pk])
            fastpath.update_with_history(stopped, ["next_escalation_at", *CLOCK_FIELDS], actor=user)
        read = notifications_mark_read(user=user, now=now, pages=[pk for pk, _, _ in pages])
    return PagesAnswered(read=read, acknowledged=len(answered), stopped=[i.reference for i in stopped])


__all__ = ["PagesAnswered", "incident_rung_acknowledge", "pages_acknowledge"]
