"""Reads about handoffs, and the ping-pong rule: a case handed back to a person or team
it left by an accepted handoff within the window. The offer (which asks for a reason),
the accept, the handoff audit and the weekly review all judge it here."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from escalations.choices import HandoffStatus
from escalations.models import (
    HandoffPacket,
    Incident,
    Team,
)


def last_accepted_handoff(incident: Incident) -> HandoffPacket | None:
    return (
        HandoffPacket.objects.filter(incident=incident, status=HandoffStatus.ACCEPTED)
        .order_by("-responded_at", "-id")
        .first()
    )


# A case coming back to a person or team it left within this window is ping-pong.
PING_PONG_WINDOW = timedelta(hours=24)


def packets_left_from(*, incident_id, at, to_user_id, to_team_id, window: timedelta = PING_PONG_WINDOW) -> QuerySet:
    """The accepted packets by which the case left ``to_user_id`` or ``to_team_id`` within
    ``window`` before ``at``: if any exists, handing the case to them is ping-pong. Takes
    plain values or ``OuterRef`` expressions, so the offer and the audit judge alike."""
    left = Q()
    if to_user_id is not None:
        left |= Q(from_user_id=to_user_id)
    if to_team_id is not None:
        left |= Q(from_team_id=to_team_id)
    if not left:
        return HandoffPacket.objects.none()
    return HandoffPacket.objects.filter(
        left,
        incident_id=incident_id,
        status=HandoffStatus.ACCEPTED,
        responded_at__lt=at,
        responded_at__gte=at - window,
    )


def is_ping_pong(incident: Incident, *, at: datetime, to_user=None, to_team: Team | None = None) -> bool:
    """True when the case would go back to a person or team it left within the window."""
    return packets_left_from(
        incident_id=incident.pk,
        at=at,
        to_user_id=to_user.pk if to_user is not None else None,
        to_team_id=to_team.pk if to_team is not None else None,
    ).exists()


def ping_pong_exists(window: timedelta) -> Exists:
    """Whether the packet's receiver is a person or team the case left within ``window``
    before the offer (the offer's own rule, ``services.handoffs.packets_left_from``)."""
    return Exists(
        packets_left_from(
            incident_id=OuterRef("incident_id"),
            at=OuterRef("offered_at"),
            to_user_id=OuterRef("to_user_id"),
            to_team_id=OuterRef("to_team_id"),
            window=window,
        )
    )
