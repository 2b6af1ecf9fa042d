"""The handoff audit for managers: every handoff with its outcome, how long it took to
accept and whether it was ping-pong, filterable; one case's handoffs as a chain of who
held each stage. Read-only; the pages and the CSV export share these querysets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Case, CharField, DurationField, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.http import Http404

from escalations.access import incident_access_q, sees_every_case
from escalations.choices import HandoffStatus, Stage
from escalations.models import PACKET_FIELDS, HandoffPacket, Incident
from escalations.services.handoffs import PING_PONG_WINDOW, packets_left_from

DEFAULT_PING_PONG_WINDOW = PING_PONG_WINDOW
# A row shows the packet's summary; its other long texts belong to the packet page.
ROW_DEFERRED = (*(f for f in PACKET_FIELDS if f != "summary"), "checklist_state")

OUTCOME_EXPIRED = "expired"
OUTCOME_WAITING = "waiting"
# The answer a handoff got: accepted, rejected, cancelled by status; an offer still
# unanswered once its acceptance time box breached (the sweep stamps accept_breached_at)
# is expired; one still inside its time box is waiting.
OUTCOMES = (
    (HandoffStatus.ACCEPTED.value, "Accepted"),
    (HandoffStatus.REJECTED.value, "Rejected"),
    (OUTCOME_EXPIRED, "Expired (no answer in time)"),
    (HandoffStatus.CANCELLED.value, "Cancelled"),
    (OUTCOME_WAITING, "Waiting for an answer"),
)
OUTCOME_LABELS = dict(OUTCOMES)


@dataclass(frozen=True)
class HandoffFilters:
    team_id: int | None = None
    person_id: int | None = None
    stage: str = ""
    outcome: str = ""
    accept_over_minutes: int | None = None
    ping_pong_only: bool = False
    window: timedelta = DEFAULT_PING_PONG_WINDOW


def _visible(user, qs: QuerySet[HandoffPacket]) -> QuerySet[HandoffPacket]:
    if sees_every_case(user):
        return qs
    return qs.filter(incident_id__in=Incident.objects.filter(incident_access_q(user)).values("pk"))


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


def _annotated(qs: QuerySet[HandoffPacket], window: timedelta) -> QuerySet[HandoffPacket]:
    return qs.annotate(
        outcome=Case(
            When(status=HandoffStatus.OFFERED, accept_breached_at__isnull=False, then=Value(OUTCOME_EXPIRED)),
            When(status=HandoffStatus.OFFERED, then=Value(OUTCOME_WAITING)),
            default=F("status"),
            output_field=CharField(),
        ),
        time_to_accept=Case(
            When(status=HandoffStatus.ACCEPTED, then=F("responded_at") - F("offered_at")),
            default=None,
            output_field=DurationField(),
        ),
        ping_pong=ping_pong_exists(window),
    )


def handoff_audit_list(*, user, filters: HandoffFilters) -> QuerySet[HandoffPacket]:
    """Every handoff the user may see, newest offer first, filtered and annotated with
    ``outcome``, ``time_to_accept`` (accepted ones only) and ``ping_pong``."""
    qs = _visible(
        user,
        HandoffPacket.objects.select_related(
            "incident", "from_user", "from_team", "to_user", "to_team", "responded_by"
        ).defer(*ROW_DEFERRED),
    )
    qs = _annotated(qs, filters.window)
    if filters.team_id is not None:
        qs = qs.filter(Q(from_team_id=filters.team_id) | Q(to_team_id=filters.team_id))
    if filters.person_id is not None:
        qs = qs.filter(Q(from_user_id=filters.person_id) | Q(to_user_id=filters.person_id))
    if filters.stage:
        qs = qs.filter(Q(from_stage=filters.stage) | Q(to_stage=filters.stage))
    if filters.outcome:
        qs = qs.filter(outcome=filters.outcome)
    if filters.accept_over_minutes is not None:
        qs = qs.filter(time_to_accept__gt=timedelta(minutes=filters.accept_over_minutes))
    if filters.ping_pong_only:
        qs = qs.filter(ping_pong=True)
    return qs.order_by("-offered_at", "-id")


def handoff_audit_get(*, user, pk: int, window: timedelta = DEFAULT_PING_PONG_WINDOW) -> HandoffPacket:
    """One handoff, the whole packet as offered, with the list's annotations."""
    qs = _visible(
        user,
        HandoffPacket.objects.select_related(
            "incident", "from_user", "from_team", "to_user", "to_team", "responded_by"
        ),
    )
    try:
        return _annotated(qs, window).get(pk=pk)
    except HandoffPacket.DoesNotExist:
        raise Http404("No such handoff.") from None


@dataclass
class Hold:
    """One stretch of a case with one holder: who, which stage, from when to when, and
    the handoffs offered while they held it (the last one, if accepted, ended the hold)."""

    holder: object
    stage: str
    started_at: datetime
    ended_at: datetime | None
    offers: list[HandoffPacket] = field(default_factory=list)

    @property
    def stage_label(self) -> str:
        return str(Stage(self.stage).label)

    def duration(self, now: datetime) -> timedelta:
        return (self.ended_at or now) - self.started_at


def handoff_chain(*, user, incident_pk: int) -> tuple[Incident, list[Hold]]:
    """The case's handoffs in offer order, grouped into holds. A hold starts when the case
    opens or an offer is accepted, and ends with the next accepted offer (or runs on)."""
    try:
        incident = Incident.objects.filter(incident_access_q(user)).select_related("stage_dri").get(pk=incident_pk)
    except Incident.DoesNotExist:
        raise Http404("No such case.") from None
    packets = list(
        _annotated(
            HandoffPacket.objects.filter(incident=incident).select_related(
                "from_user", "from_team", "to_user", "to_team", "responded_by"
            ),
            DEFAULT_PING_PONG_WINDOW,
        ).order_by("offered_at", "id")
    )
    holds: list[Hold] = []
    current: Hold | None = None
    for packet in packets:
        if current is None:
            current = Hold(
                holder=packet.from_user, stage=packet.from_stage, started_at=incident.created_at, ended_at=None
            )
            holds.append(current)
        current.offers.append(packet)
        if packet.status == HandoffStatus.ACCEPTED:
            current.ended_at = packet.responded_at
            current = Hold(
                holder=packet.responded_by or packet.to_user,
                stage=packet.to_stage,
                started_at=packet.responded_at,
                ended_at=None,
            )
            holds.append(current)
    if not holds:
        holds.append(
            Hold(holder=incident.stage_dri, stage=incident.stage, started_at=incident.created_at, ended_at=None)
        )
    if incident.closed_at and holds[-1].ended_at is None:
        holds[-1].ended_at = incident.closed_at
    return incident, holds
