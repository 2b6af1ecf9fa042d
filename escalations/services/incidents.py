"""State changes of a case. Each is one function: open a transaction, lock the row,
check the move against escalations.choices.ALLOWED_TRANSITIONS, save with
update_fields, record the event. History rows carry the actor, whatever the door."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from escalations.choices import (
    OPEN_STATUSES,
    PAUSE_STATUS,
    ChecklistFact,
    EventKind,
    PauseReason,
    Stage,
    Status,
    can_transition,
)
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation
from escalations.lib.text import duration_text
from escalations.models import (
    ClockPause,
    Incident,
    Postmortem,
    ResolveCycle,
)
from escalations.selectors.clocks import incident_clocks
from escalations.services.case_edits import STAGE_REASON_MAX, incident_set_stage, incident_update
from escalations.services.checklists import checklist_facts_tick, require_stage_exit
from escalations.services.clocks import cycle_open, incident_save_with_clocks
from escalations.services.common import STATE_FIELDS, audited_create, audited_save, event_record, incident_lock
from escalations.services.engine.chain import incident_rung_acknowledge
from escalations.services.handoffs import handoffs_cancel_pending
from escalations.services.notifications import notifications_mark_read
from escalations.services.postmortems import postmortem_open_on_resolve
from escalations.services.severity import (
    EDITABLE_FIELDS,
)
from escalations.sla import stopped_in_time


def _move(incident: Incident, new_status: str, *, action: str) -> str:
    old = incident.status
    if not can_transition(old, new_status):
        raise InvalidTransition(
            f"Cannot {action} a case that is {incident.get_status_display().lower()}.", field="status"
        )
    incident.status = new_status
    return old


def _stop_ack_clock(incident: Incident, *, actor, now: datetime) -> list[str]:
    """Answer the page: the acknowledge clock stops at ``now`` and keeps the time it had
    counted (a later severity change never moves it). Returns the fields set."""
    incident.acknowledged_at = now
    incident.acknowledged_by = actor
    incident.ack_elapsed_seconds = int(incident_clocks(incident, now=now).ack.elapsed.total_seconds())
    return ["acknowledged_at", "acknowledged_by", "ack_elapsed_seconds"]


def _ack_event(incident: Incident, *, actor, now: datetime, detail: str) -> None:
    # A clock that never started (an unagreed channel) was not met either.
    met = incident.clock_started_at is not None and stopped_in_time(incident.acknowledged_at, incident.ack_due_at)
    event_record(
        incident=incident,
        kind=EventKind.ACKNOWLEDGED,
        actor=actor,
        at=now,
        new={"tta_seconds": incident.ack_elapsed_seconds, "met": met},
        detail=detail,
    )


def incident_acknowledge(
    *, incident: Incident | int, actor, now: datetime, expected_version: int | None = None
) -> Incident:
    """Answer the page: stops the acknowledge clock (TTA), and answers the escalation
    rung the case is on, so the chain stops climbing on its timer. The acknowledger
    becomes the stage DRI when nobody owns the stage yet."""
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        if incident.acknowledged_at is not None:
            raise InvalidTransition("This case is already acknowledged.", field="status", code="already_acknowledged")
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("Only an open case can be acknowledged.", field="status")
        fields = [*_stop_ack_clock(incident, actor=actor, now=now), "last_progress_at"]
        fields += incident_rung_acknowledge(incident, actor=actor, now=now)
        if incident.status == Status.NEW:
            _move(incident, Status.ACKNOWLEDGED, action="acknowledge")
            fields.append("status")
        incident.last_progress_at = now
        if incident.stage_dri_id is None:
            incident.stage_dri = actor
            fields.append("stage_dri")
        incident_save_with_clocks(incident, actor=actor, now=now, fields=fields)
        tta = timedelta(seconds=incident.ack_elapsed_seconds)
        _ack_event(incident, actor=actor, now=now, detail=f"TTA {duration_text(tta)}")
        checklist_facts_tick(incident=incident, facts={ChecklistFact.ACKNOWLEDGED}, actor=actor, now=now)
        # The pages about it are answered: the acknowledger's inbox no longer calls them new.
        notifications_mark_read(user=actor, now=now, incident=incident)
        return incident


def incident_pause(
    *, incident: Incident | int, reason: str, note: str, actor, now: datetime, expected_version: int | None = None
) -> Incident:
    """Pause the clocks while waiting on the customer or a third party — nothing else
    pauses a clock. The reason and note are visible to everyone."""
    if reason not in PauseReason.values:
        raise RuleViolation("A clock pauses only while waiting on the customer or on a third party.", field="reason")
    note = (note or "").strip()
    if not note:
        raise RuleViolation("Say what you are waiting for.", field="note")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        if incident.paused_since is not None:
            raise InvalidTransition("The clock is already paused.", field="status", code="already_paused")
        if incident.acknowledged_at is None:
            raise InvalidTransition(
                "Acknowledge the case first: the acknowledge clock does not pause.",
                field="status",
                code="not_acknowledged",
            )
        old = _move(incident, PAUSE_STATUS[PauseReason(reason)], action="pause")
        audited_create(
            ClockPause,
            history_user=actor,
            incident=incident,
            reason=reason,
            note=note,
            started_at=now,
            started_by=actor,
        )
        incident.paused_since = now
        incident.pause_reason = reason
        incident_save_with_clocks(incident, actor=actor, now=now, fields=["status", "paused_since", "pause_reason"])
        event_record(
            incident=incident,
            kind=EventKind.PAUSED,
            actor=actor,
            at=now,
            old={"status": old},
            new={"status": incident.status, "reason": reason, "note": note},
            detail=f"{PauseReason(reason).label}: {note}",
        )
        return incident


def _end_pause(incident: Incident, *, actor, now: datetime) -> ClockPause | None:
    pause = ClockPause.objects.select_for_update().filter(incident=incident, ended_at__isnull=True).first()
    if pause is not None:
        pause.ended_at = max(now, pause.started_at)
        pause.ended_by = actor
        audited_save(pause, actor=actor, update_fields=["ended_at", "ended_by"])
    incident.paused_since = None
    incident.pause_reason = ""
    return pause


def incident_resume(*, incident: Incident | int, actor, now: datetime, expected_version: int | None = None) -> Incident:
    """End the running pause; the clocks count again from now."""
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        if incident.paused_since is None:
            raise InvalidTransition("The clock is not paused.", field="status", code="not_paused")
        old = _move(incident, Status.INVESTIGATING, action="resume")
        pause = _end_pause(incident, actor=actor, now=now)
        incident.last_progress_at = now
        incident_save_with_clocks(
            incident, actor=actor, now=now, fields=["status", "paused_since", "pause_reason", "last_progress_at"]
        )
        waited = (pause.ended_at - pause.started_at).total_seconds() if pause else 0
        event_record(
            incident=incident,
            kind=EventKind.RESUMED,
            actor=actor,
            at=now,
            old={"status": old},
            new={"status": incident.status, "paused_seconds": int(waited)},
            detail=f"Clock resumed after {duration_text(timedelta(seconds=waited))}",
        )
        return incident


def incident_resolve(
    *, incident: Incident | int, resolution: str, actor, now: datetime, expected_version: int | None = None
) -> Incident:
    """Restore the customer. Refused while required checklist items of the current stage
    are open, or while the policy requires a commander (or bridge) and none is set. Ends
    the current resolve cycle with its result (met or breached). A policy that requires
    an RCA opens one (kept as it is when the case is resolved again after a reopen)."""
    resolution = (resolution or "").strip()
    if not resolution:
        raise RuleViolation("Describe the resolution.", field="resolution")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=(*STATE_FIELDS, "stage"))
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("The case is already resolved.", field="status", code="already_resolved")
        policy = incident.policy
        if policy.requires_commander and incident.commander_id is None:
            raise RuleViolation(
                f"{incident.severity} cases need an Incident Commander before they can be resolved.", field="commander"
            )
        if policy.requires_bridge and not incident.bridge_url:
            raise RuleViolation(f"{incident.severity} cases need an incident bridge link.", field="bridge_url")
        fields = ["status", "resolved_at", "resolution", "last_progress_at"]
        acknowledged_now = incident.acknowledged_at is None
        if acknowledged_now:
            # Resolving answers the page too: stop the acknowledge clock at the same instant
            # (and tick the item that stands for it before the exit criteria are checked).
            fields += _stop_ack_clock(incident, actor=actor, now=now)
            checklist_facts_tick(incident=incident, facts={ChecklistFact.ACKNOWLEDGED}, actor=actor, now=now)
        require_stage_exit(incident, action="resolve the case")
        old = _move(incident, Status.RESOLVED, action="resolve")
        if incident.paused_since is not None:
            _end_pause(incident, actor=actor, now=now)
            fields += ["paused_since", "pause_reason"]
        handoffs_cancel_pending(incident=incident, actor=actor, now=now, why="the case was resolved")
        incident.resolved_at = now
        incident.resolution = resolution
        incident.last_progress_at = now
        clocks = incident_clocks(incident, now=now)
        incident_save_with_clocks(incident, actor=actor, now=now, fields=fields)
        met = clocks.resolve.status == "met"
        cycle = (
            ResolveCycle.objects.select_for_update().filter(incident=incident, number=incident.resolve_cycle).first()
        )
        if cycle is not None:
            cycle.ended_at = now
            cycle.elapsed_seconds = int(clocks.resolve.elapsed.total_seconds())
            cycle.met = met
            audited_save(cycle, actor=actor, update_fields=["ended_at", "elapsed_seconds", "met"])
        if acknowledged_now:
            _ack_event(incident, actor=actor, now=now, detail="Acknowledged by resolving")
        event_record(
            incident=incident,
            kind=EventKind.RESOLVED,
            actor=actor,
            at=now,
            old={"status": old},
            new={"status": incident.status, "ttr_seconds": int(clocks.resolve.elapsed.total_seconds()), "met": met},
            detail=resolution,
        )
        if incident.clock_started_at:
            event_record(
                incident=incident,
                kind=EventKind.MET if met else EventKind.MISSED,
                actor=actor,
                at=now,
                new={"clock": "resolve", "cycle": incident.resolve_cycle, "met": met},
                detail=f"Resolve cycle {incident.resolve_cycle} {'met' if met else 'missed'} its target",
            )
        postmortem_open_on_resolve(incident=incident, actor=actor, now=now)
        return incident


def incident_reopen(
    *, incident: Incident | int, reason: str, actor, now: datetime, expected_version: int | None = None
) -> Incident:
    """Start a new resolve cycle with the full target. Earlier cycles keep their result;
    the reopen is counted."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("Say why the case is reopened.", field="reason")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        old = _move(incident, Status.INVESTIGATING, action="reopen")
        if old not in (Status.RESOLVED, Status.CLOSED):
            raise InvalidTransition("Only a resolved or closed case can be reopened.", field="status")
        incident.resolve_cycle += 1
        incident.cycle_started_at = now
        incident.reopen_count += 1
        incident.resolved_at = None
        incident.closed_at = None
        incident.resolve_warned_at = incident.resolve_breached_at = None
        incident.update_warned_at = incident.update_breached_at = None
        # The update clock restarts with the cycle: a new sequence number keys its
        # warning and breach apart from the previous cycle's (breach_once_per_cycle).
        incident.update_seq += 1
        incident.next_escalation_at = None
        incident.last_progress_at = now
        # Clocks run only once the case is on an agreed channel (incident_update starts
        # them, with this cycle's row, when it is moved onto one).
        if incident.clock_started_at is None and incident.channel.agreed:
            incident.clock_started_at = now
        if incident.clock_started_at is not None:
            cycle_open(incident, actor=actor, started_at=now)
        incident_save_with_clocks(
            incident,
            actor=actor,
            now=now,
            fields=[
                "status",
                "resolve_cycle",
                "cycle_started_at",
                "reopen_count",
                "resolved_at",
                "closed_at",
                "resolve_warned_at",
                "resolve_breached_at",
                "update_warned_at",
                "update_breached_at",
                "update_seq",
                "next_escalation_at",
                "last_progress_at",
                "clock_started_at",
            ],
        )
        event_record(
            incident=incident,
            kind=EventKind.REOPENED,
            actor=actor,
            at=now,
            old={"status": old},
            new={"status": incident.status, "cycle": incident.resolve_cycle, "resolve_due_at": incident.resolve_due_at},
            detail=reason,
        )
        return incident


def incident_close(*, incident: Incident | int, actor, now: datetime, expected_version: int | None = None) -> Incident:
    """Close a resolved case. Policies that require an RCA need one first."""
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STATE_FIELDS)
        old = _move(incident, Status.CLOSED, action="close")
        if incident.policy.requires_rca and not Postmortem.objects.filter(incident=incident).exists():
            raise RuleViolation(
                f"{incident.severity} cases need a root cause analysis before closing.", field="postmortem"
            )
        incident.closed_at = now
        incident.stage = Stage.VERIFY
        incident_save_with_clocks(incident, actor=actor, now=now, fields=["status", "closed_at", "stage"])
        event_record(
            incident=incident,
            kind=EventKind.CLOSED,
            actor=actor,
            at=now,
            old={"status": old},
            new={"status": incident.status},
        )
        return incident


__all__ = [
    "EDITABLE_FIELDS",
    "STAGE_REASON_MAX",
    "NotAllowed",
    "incident_acknowledge",
    "incident_close",
    "incident_pause",
    "incident_reopen",
    "incident_resolve",
    "incident_resume",
    "incident_set_stage",
    "incident_update",
]
