"""Reads about handoffs, and the ping-pong rule.

Ping-pong: a handoff that sends the case back to a person or team it left, by an
accepted handoff, within the window (``PING_PONG_WINDOW``, 24 hours) before this
handoff was offered. "Sends back to" is whoever the offer names (its person, its team)
and, once accepted, whoever took it: a team offer accepted by the very person the case
just left is ping-pong too. The window is always measured back from the offer, so a
handoff's answer never depends on when it was judged; while an offer waits, no other
handoff of the case can be accepted (one pending offer per case), so judging it again
at acceptance only adds the person who took it.

``ping_pong_sources`` is the rule's one home. The offer (which asks for a reason) and
the accept store its answer as ``HandoffPacket.is_ping_pong``; the handoff audit (list,
CSV, ``?window=``) and the weekly figures apply it to every row with
``ping_pong_exists``, so the stored flag and every count agree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, When
from django.db.models.lookups import Exact

from escalations.choices import HandoffStatus
from escalations.models import HandoffPacket, Incident


def last_accepted_handoff(incident: Incident) -> HandoffPacket | None:
    return (
        HandoffPacket.objects.filter(incident=incident, status=HandoffStatus.ACCEPTED)
        .order_by("-responded_at", "-id")
        .first()
    )


# A case coming back to a person or team it left within this window is ping-pong.
PING_PONG_WINDOW = timedelta(hours=24)


def ping_pong_sources(
    *,
    incident_id: Any,
    offered_at: Any,
    to_user_id: Any = None,
    to_team_id: Any = None,
    taken_by_id: Any = None,
    window: timedelta = PING_PONG_WINDOW,
) -> QuerySet[HandoffPacket]:
    """The accepted handoffs by which the case left the person or team a handoff sends
    it back to, within ``window`` before ``offered_at``: the handoff is ping-pong when
    any exists. ``to_user_id`` and ``to_team_id`` are the offer's receivers,
    ``taken_by_id`` who accepted it (None until then, and for an offer not accepted).
    Each is a plain value or an expression over an outer row (``ping_pong_exists``)."""
    left = Q()
    for receiver, column in ((to_user_id, "from_user_id"), (to_team_id, "from_team_id"), (taken_by_id, "from_user_id")):
        if receiver is not None:
            left |= Q(**{column: receiver})
    if not left:
        return HandoffPacket.objects.none()
    return HandoffPacket.objects.filter(
        left,
        incident_id=incident_id,
        status=HandoffStatus.ACCEPTED,
        responded_at__lt=offered_at,
        responded_at__gte=offered_at - window,
    )


def ping_pong_exists(window: timedelta = PING_PONG_WINDOW) -> Exists:
    """``ping_pong_sources`` for each handoff row of a queryset: True when the row is
    ping-pong (an annotation or a filter)."""
    # Who took the handoff: only an accepted one was taken (a rejecter or a canceller
    # did not take the case).
    taken_by = Case(
        When(Exact(OuterRef("status"), HandoffStatus.ACCEPTED.value), then=OuterRef("responded_by_id")),
        output_field=IntegerField(),
    )
    return Exists(
        ping_pong_sources(
            incident_id=OuterRef("incident_id"),
            offered_at=OuterRef("offered_at"),
            to_user_id=OuterRef("to_user_id"),
            to_team_id=OuterRef("to_team_id"),
            taken_by_id=taken_by,
            window=window,
        )
    )
