"""Handoffs: a standard packet offered to a person or team, explicitly accepted or
rejected. Until acceptance the sender stays DRI. A case sent back to a person or team it
left within ``PING_PONG_WINDOW`` is ping-pong (the rule: ``selectors.handoffs``): the
offer needs a reason, and the offer and the accept store the rule's answer."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from escalations.choices import OPEN_STATUSES, EventKind, HandoffStatus, Stage, stage_is_forward, stage_move_allowed
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation
from escalations.lib.text import MAX_REASON, long_text_error
from escalations.models import PACKET_FIELDS, ChecklistItem, HandoffPacket, Incident, Team
from escalations.security.access import (
    may_answer_handoff,
    may_hand_off,
    may_own_case,
    may_withdraw_handoff,
    not_a_case_worker,
)
from escalations.selectors.handoffs import ping_pong_sources
from escalations.services.checklists import require_stage_exit
from escalations.services.clocks import incident_recompute_clocks
from escalations.services.common import (
    STATE_FIELDS,
    audited_create,
    audited_save,
    bump_version,
    event_record,
    incident_lock,
)

REQUIRED_PACKET_FIELDS = ("summary", "customer_impact", "next_steps")


def checklist_state(incident: Incident) -> list[dict]:
    return [
        {"item": item.text, "stage": item.checklist.stage, "required": item.required, "done": item.done_at is not None}
        for item in ChecklistItem.objects.filter(checklist__incident=incident)
        .select_related("checklist")
        .order_by("checklist_id", "order")
    ]


def handoff_offer(
    *,
    incident: Incident | int,
    actor,
    now: datetime,
    to_stage: str,
    to_user=None,
    to_team: Team | None = None,
    ping_pong_reason: str = "",
    expected_version: int | None = None,
    **packet: str,
) -> HandoffPacket:
    """Offer the case to a person or team with a full packet. The acceptance time box
    comes from the case's policy."""
    unknown = set(packet) - set(PACKET_FIELDS)
    if unknown:
        raise RuleViolation(f"Unknown packet field(s): {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    for field in PACKET_FIELDS:
        if message := long_text_error(packet.get(field)):
            raise RuleViolation(message, field=field, code="max_length")
    for field in REQUIRED_PACKET_FIELDS:
        if not (packet.get(field) or "").strip():
            raise RuleViolation(f"The handoff packet needs {field.replace('_', ' ')}.", field=field)
    if to_user is None and to_team is None:
        raise RuleViolation("Hand the case to a person or a team.", field="to_user")
    if to_stage not in Stage.values:
        raise RuleViolation(f"Unknown stage {to_stage!r}.", field="to_stage")
    if to_user is not None and to_user.pk == actor.pk:
        raise RuleViolation("You cannot hand a case to yourself.", field="to_user")
    if to_user is not None and not may_own_case(to_user):
        raise RuleViolation(not_a_case_worker(to_user.pk), field="to_user", code="does_not_exist")
    if to_user is not None and to_team is not None and not to_team.members.filter(pk=to_user.pk).exists():
        raise RuleViolation(f"{to_user} is not a member of {to_team}.", field="to_user")
    with transaction.atomic():
        incident = incident_lock(
            incident,
            expected_version=expected_version,
            depends_on=(*STATE_FIELDS, "severity", "stage", "stage_dri", "commander"),
        )
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("Only an open case can be handed off.", field="status")
        if not may_hand_off(actor, incident):
            raise NotAllowed(
                f"Only the stage owner ({incident.stage_dri}), the Incident Commander or a Manager can hand this case off.",
                field="handoff",
                code="not_owner",
            )
        if not stage_move_allowed(incident.stage, to_stage):
            raise RuleViolation("A case moves forward one stage at a time.", field="to_stage", code="stage_skipped")
        if stage_is_forward(incident.stage, to_stage):
            require_stage_exit(incident, action="hand the case to the next stage")
        ping_pong = ping_pong_sources(
            incident_id=incident.pk,
            offered_at=now,
            to_user_id=to_user.pk if to_user is not None else None,
            to_team_id=to_team.pk if to_team is not None else None,
        ).exists()
        ping_pong_reason = (ping_pong_reason or "").strip()
        if ping_pong and not ping_pong_reason:
            raise RuleViolation(
                "This hands the case straight back to where it just came from (ping-pong). Say why.",
                field="ping_pong_reason",
                code="ping_pong",
            )
        try:
            with transaction.atomic():
                handoff = audited_create(
                    HandoffPacket,
                    history_user=actor,
                    incident=incident,
                    from_user=actor,
                    from_team=incident.team,
                    from_stage=incident.stage,
                    to_user=to_user,
                    to_team=to_team,
                    to_stage=to_stage,
                    checklist_state=checklist_state(incident),
                    offered_at=now,
                    accept_due_at=now + incident.policy.handoff_accept_within,
                    is_ping_pong=ping_pong,
                    ping_pong_reason=ping_pong_reason if ping_pong else "",
                    **{field: (packet.get(field) or "").strip() for field in PACKET_FIELDS},
                )
        except IntegrityError:
            raise RuleViolation(
                "A handoff of this case is already waiting for an answer.", field="to_user", code="handoff_pending"
            ) from None
        incident.last_progress_at = now
        audited_save(incident, actor=actor, update_fields=bump_version(incident, ["last_progress_at"]))
        receiver = to_user or to_team
        event_record(
            incident=incident,
            kind=EventKind.HANDOFF_OFFERED,
            actor=actor,
            at=now,
            new={
                "handoff": handoff.pk,
                "to": str(receiver),
                "to_stage": to_stage,
                "accept_due_at": handoff.accept_due_at,
            },
            detail=f"Offered to {receiver} for {Stage(to_stage).label}",
        )
        if ping_pong:
            event_record(
                incident=incident,
                kind=EventKind.PING_PONG,
                actor=actor,
                at=now,
                new={"handoff": handoff.pk, "to": str(receiver)},
                detail=ping_pong_reason,
            )
        return handoff


def handoffs_cancel_pending(*, incident: Incident, actor, now: datetime, why: str) -> list[HandoffPacket]:
    """Withdraw offers still waiting on a case that is leaving the open states (called by
    resolve and close inside their transaction): nobody may accept a closed case."""
    pending = list(HandoffPacket.objects.select_for_update().filter(incident=incident, status=HandoffStatus.OFFERED))
    for handoff in pending:
        handoff.status = HandoffStatus.CANCELLED
        handoff.responded_at = now
        handoff.responded_by = actor
        audited_save(handoff, actor=actor, update_fields=["status", "responded_at", "responded_by"])
        event_record(incident=incident, kind=EventKind.NOTE, actor=actor, at=now, new={"handoff": handoff.pk},
                     detail=f"Handoff withdrawn: {why}")  # fmt: skip
    return pending


def _lock_offer(handoff: HandoffPacket | int, expected_version: int | None) -> tuple[HandoffPacket, Incident]:
    pk = handoff.pk if isinstance(handoff, HandoffPacket) else handoff
    incident_id = HandoffPacket.objects.filter(pk=pk).values_list("incident_id", flat=True).first()
    if incident_id is None:
        raise RuleViolation("No such handoff.", field="handoff", code="not_found")
    # Case first, then packet: one lock order everywhere.
    incident = incident_lock(
        incident_id,
        expected_version=expected_version,
        depends_on=(*STATE_FIELDS, "severity", "stage", "stage_dri", "commander"),
    )
    # of=self: to_team is a nullable (outer) join, which PostgreSQL refuses to lock.
    locked = HandoffPacket.objects.select_for_update(of=("self",)).select_related("to_team").get(pk=pk)
    if locked.status != HandoffStatus.OFFERED:
        raise InvalidTransition(f"This handoff was already {locked.get_status_display().lower()}.", field="status")
    if incident.status not in OPEN_STATUSES:
        raise InvalidTransition("The case is no longer open.", field="status")
    return locked, incident


def handoff_accept(
    *, handoff: HandoffPacket | int, actor, now: datetime, expected_version: int | None = None
) -> HandoffPacket:
    """The receiver takes the case: they become DRI of the target stage (and the
    Incident Commander when the case enters command without one)."""
    with transaction.atomic():
        handoff, incident = _lock_offer(handoff, expected_version)
        if not may_answer_handoff(actor, handoff):
            raise NotAllowed("Only the receiver of a handoff can accept it.", field="handoff")
        if stage_is_forward(incident.stage, handoff.to_stage):
            require_stage_exit(incident, action="accept the handoff into the next stage")
        handoff.status = HandoffStatus.ACCEPTED
        handoff.responded_at = now
        handoff.responded_by = actor
        handoff_fields = ["status", "responded_at", "responded_by"]
        # Taking it adds who took it to the rule: a team offer accepted by the very person
        # the case just left is ping-pong too, though nobody could tell at offer time.
        bounced = (
            not handoff.is_ping_pong
            and ping_pong_sources(
                incident_id=incident.pk,
                offered_at=handoff.offered_at,
                to_user_id=handoff.to_user_id,
                to_team_id=handoff.to_team_id,
                taken_by_id=actor.pk,
            ).exists()
        )
        if bounced:
            handoff.is_ping_pong = True
            handoff.ping_pong_reason = "Accepted back by the person it had just left."
            handoff_fields += ["is_ping_pong", "ping_pong_reason"]
        audited_save(handoff, actor=actor, update_fields=handoff_fields)
        if bounced:
            event_record(incident=incident, kind=EventKind.PING_PONG, actor=actor, at=now,
                         new={"handoff": handoff.pk, "to": str(actor)}, detail=handoff.ping_pong_reason)  # fmt: skip
        old = {"stage": incident.stage, "stage_dri": str(incident.stage_dri or ""), "team": str(incident.team or "")}
        fields = ["stage", "stage_dri", "last_progress_at"]
        incident.stage = handoff.to_stage
        incident.stage_dri = actor
        incident.last_progress_at = now
        if handoff.to_team_id:
            incident.team_id = handoff.to_team_id
            fields.append("team")
        if handoff.to_stage == Stage.COMMAND and incident.commander_id is None:
            incident.commander = actor
            fields.append("commander")
        fields = bump_version(incident, fields + incident_recompute_clocks(incident, now=now))
        audited_save(incident, actor=actor, update_fields=fields)
        event_record(
            incident=incident,
            kind=EventKind.HANDOFF_ACCEPTED,
            actor=actor,
            at=now,
            old=old,
            new={
                "stage": incident.stage,
                "stage_dri": str(actor),
                "team": str(incident.team or ""),
                "handoff": handoff.pk,
            },
            detail=f"Accepted by {actor}",
        )
        return handoff


def handoff_reject(
    *, handoff: HandoffPacket | int, reason: str, actor, now: datetime, expected_version: int | None = None
) -> HandoffPacket:
    """The receiver declines with a reason; the sender stays DRI."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why you reject the handoff.", field="reason")
    if message := long_text_error(reason, max_length=MAX_REASON):
        raise RuleViolation(message, field="reason", code="max_length")
    with transaction.atomic():
        handoff, incident = _lock_offer(handoff, expected_version)
        if not may_answer_handoff(actor, handoff):
            raise NotAllowed("Only the receiver of a handoff can reject it.", field="handoff")
        handoff.status = HandoffStatus.REJECTED
        handoff.responded_at = now
        handoff.responded_by = actor
        handoff.rejection_reason = reason
        audited_save(handoff, actor=actor, update_fields=["status", "responded_at", "responded_by", "rejection_reason"])
        audited_save(incident, actor=actor, update_fields=bump_version(incident, []))
        event_record(
            incident=incident,
            kind=EventKind.HANDOFF_REJECTED,
            actor=actor,
            at=now,
            new={"handoff": handoff.pk, "reason": reason},
            detail=reason,
        )
        return handoff


def handoff_cancel(
    *, handoff: HandoffPacket | int, actor, now: datetime, expected_version: int | None = None
) -> HandoffPacket:
    """The sender (or a manager) withdraws an unanswered offer."""
    with transaction.atomic():
        handoff, incident = _lock_offer(handoff, expected_version)
        if not may_withdraw_handoff(actor, handoff):
            raise NotAllowed("Only the sender or a Manager can withdraw a handoff.", field="handoff")
        handoff.status = HandoffStatus.CANCELLED
        handoff.responded_at = now
        handoff.responded_by = actor
        audited_save(handoff, actor=actor, update_fields=["status", "responded_at", "responded_by"])
        audited_save(incident, actor=actor, update_fields=bump_version(incident, []))
        event_record(
            incident=incident,
            kind=EventKind.NOTE,
            actor=actor,
            at=now,
            new={"handoff": handoff.pk},
            detail="Handoff withdrawn",
        )
        return handoff
