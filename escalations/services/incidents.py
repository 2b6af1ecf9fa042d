"""State changes of a case. Each is one function: open a transaction, lock the row,
check the move against escalations.choices.ALLOWED_TRANSITIONS, save with
update_fields, record the event. History rows carry the actor, whatever the door."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from escalations.access import may_own_case, may_reassign, not_a_case_worker
from escalations.choices import (
    OPEN_STATUSES,
    PAUSE_STATUS,
    STAGE_ORDER,
    ChecklistFact,
    EventKind,
    PauseReason,
    SeveritySource,
    Stage,
    Status,
    can_transition,
    stage_is_forward,
    stage_move_allowed,
    stage_name,
)
from escalations.models import (
    ClockPause,
    Incident,
    Postmortem,
    ResolveCycle,
)
from escalations.services.chain import incident_rung_acknowledge
from escalations.services.checklists import checklist_facts_tick, checklists_instantiate, require_stage_exit
from escalations.services.clocks import (
    cycle_open,
    incident_clocks,
    incident_save_with_clocks,
)
from escalations.services.common import STATE_FIELDS, audited_create, audited_save, event_record, incident_lock
from escalations.services.errors import InvalidTransition, NotAllowed, RuleViolation
from escalations.services.handoffs import handoffs_cancel_pending, may_hand_off
from escalations.services.intake import clean_impact
from escalations.services.notifications import notifications_mark_read
from escalations.services.policies import policy_for, triggers_evaluate
from escalations.services.postmortems import postmortem_open_on_resolve
from escalations.services.severity import (
    EDITABLE_FIELDS,
    IMPACT_FIELDS,
    OWNER_FIELDS,
    floor_lower,
    severity_change_record,
    severity_policy_apply,
    severity_values,
)
from escalations.sla import severity_rank, stopped_in_time
from escalations.text import duration_text, long_text_error, one_line

# A backward move's reason goes into its timeline event's detail (500 characters) after
# "Moved back from Verify and close to Command: ".
STAGE_REASON_MAX = 400


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


def incident_update(
    *,
    incident: Incident | int,
    actor,
    now: datetime,
    expected_version: int | None = None,
    reason: str = "",
    **changes,
) -> Incident:
    """Edit details, impact facts and owners. New impact facts re-run the triggers: a
    higher floor raises the severity at once (source: trigger). The floor
    (``trigger_severity``) is the highest the triggers gave in this cycle: facts that
    would lower it need a Manager and a ``reason``, recorded on the timeline; the
    severity itself never drops here (that is a Manager's explicit change). Owners
    change through a handoff, or here by the current stage DRI, the commander or a
    Manager (anyone who may change the case may fill an empty one); the same rule moves a
    case to another team. Moving a case onto an agreed channel starts its clocks."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise RuleViolation(
            f"These fields cannot be edited here: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0]
        )
    for field in ("title", "category"):
        if field in changes:
            changes[field] = one_line(changes[field])
    if "title" in changes and not changes["title"]:
        raise RuleViolation("A case needs a title.", field="title")
    if message := long_text_error(changes.get("description")):
        raise RuleViolation(message, field="description", code="max_length")
    if "channel" in changes and changes["channel"] is None:
        raise RuleViolation("Choose a channel.", field="channel")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=(*changes, "status"))
        if "arr_at_risk" in changes or "users_affected_pct" in changes:
            arr, pct = clean_impact(
                arr_at_risk=changes.get("arr_at_risk", incident.arr_at_risk),
                users_affected_pct=changes.get("users_affected_pct", incident.users_affected_pct),
            )
            changes["arr_at_risk"], changes["users_affected_pct"] = arr, pct
        for field in OWNER_FIELDS:
            if field not in changes:
                continue
            user = changes[field]
            if user is not None and not may_own_case(user):
                raise RuleViolation(not_a_case_worker(user.pk), field=field, code="does_not_exist")
            # Naming an owner where there is none is not taking the case from anyone.
            current = getattr(incident, f"{field}_id")
            changed = current != (user.pk if user is not None else None)
            if changed and current is not None and not may_reassign(actor, incident):
                raise NotAllowed(
                    f"Only the stage DRI, the commander or a Manager may change the {field.replace('_', ' ')}: "
                    "offer a handoff instead.",
                    field=field,
                    code="offer_handoff",
                )
        if "team" in changes:
            team = changes["team"]
            moved = incident.team_id is not None and incident.team_id != (team.pk if team is not None else None)
            # A team is an owner too: moving a case out of its team is the owners' call,
            # like changing its DRI; putting a case without a team into one is not.
            if moved and not may_reassign(actor, incident):
                raise NotAllowed(
                    "Only the stage DRI, the commander or a Manager may move the case to another team: "
                    "offer a handoff to that team instead.",
                    field="team",
                    code="offer_handoff",
                )
        old: dict = {}
        new: dict = {}
        for field, value in changes.items():
            current = getattr(incident, field)
            if isinstance(value, str):
                value = value.strip() if field != "description" else value
            if current != value:
                old[field], new[field] = current, value
                setattr(incident, field, value)
        if not new:
            return incident
        fields = list(new)
        if "channel" in new and incident.clock_started_at is None and incident.channel.agreed:
            incident.clock_started_at = incident.cycle_started_at = now
            fields += ["clock_started_at", "cycle_started_at"]
            cycle_open(incident, actor=actor, started_at=now)
        severity_old = None
        if set(new) & set(IMPACT_FIELDS):
            result = triggers_evaluate(**{f: getattr(incident, f) for f in IMPACT_FIELDS})
            floor = incident.trigger_severity or None
            lowered = floor is not None and (
                result.severity is None or severity_rank(result.severity) > severity_rank(floor)
            )
            if lowered:
                floor_lower(
                    incident,
                    new_floor=result.severity,
                    changed=[f for f in IMPACT_FIELDS if f in new],
                    reason=reason,
                    actor=actor,
                    now=now,
                )
            if lowered or floor is None or severity_rank(result.severity or floor) <= severity_rank(floor):
                incident.trigger_severity = result.severity or ""
                incident.trigger_explanation = result.explanation[:300]
                fields += ["trigger_severity", "trigger_explanation"]
            if result.severity and severity_rank(result.severity) < severity_rank(incident.severity):
                if incident.status not in OPEN_STATUSES:
                    raise RuleViolation("Reopen the case before raising its impact.", field="status")
                severity_old = severity_values(incident)
                fields += severity_policy_apply(incident, policy_for(result.severity), actor=actor, now=now)
                incident.severity_source = SeveritySource.TRIGGER
                incident.severity_reason = result.explanation
                fields += ["severity_source", "severity_reason"]
        incident.last_progress_at = now
        incident_save_with_clocks(incident, actor=actor, now=now, fields=[*fields, "last_progress_at"])
        owners = {f: new.pop(f) for f in OWNER_FIELDS if f in new}
        owners_old = {f: old.pop(f) for f in OWNER_FIELDS if f in old}
        if new:
            event_record(
                incident=incident,
                kind=EventKind.EDITED,
                actor=actor,
                at=now,
                old=old,
                new=new,
                detail="Changed " + ", ".join(sorted(new)),
            )
        if owners:
            event_record(
                incident=incident,
                kind=EventKind.ASSIGNED,
                actor=actor,
                at=now,
                old=owners_old,
                new=owners,
                detail="; ".join(f"{f.replace('_', ' ')}: {v or 'nobody'}" for f, v in owners.items()),
            )
        if "channel" in fields and "clock_started_at" in fields:
            event_record(
                incident=incident,
                kind=EventKind.CLOCK_STARTED,
                actor=actor,
                at=now,
                new={"started_at": now},
                detail=f"Logged on agreed channel {incident.channel.name}",
            )
        if severity_old is not None:
            checklists_instantiate(incident=incident, actor=actor)
            severity_change_record(
                incident, old=severity_old, actor=actor, now=now, detail=incident.trigger_explanation
            )
        made_true = {
            fact
            for fact, field in ((ChecklistFact.COMMANDER_SET, "commander"), (ChecklistFact.BRIDGE_LINKED, "bridge_url"))
            if field in fields and getattr(incident, field)
        }
        if made_true:
            checklist_facts_tick(incident=incident, facts=made_true, actor=actor, now=now)
        return incident


def incident_set_stage(
    *,
    incident: Incident | int,
    stage: str,
    actor,
    now: datetime,
    reason: str = "",
    expected_version: int | None = None,
) -> Incident:
    """Move the case to another stage; moving forward needs its exit criteria met, moving
    back needs a ``reason`` (on the timeline with the move: redoing a stage skips its
    later exit criteria, so the record says why). Each stage has one DRI: the stage's
    owner (or the Incident Commander, or a Manager) moves it, and the mover owns the new
    stage. To give the next stage to someone else, offer a handoff."""
    if stage not in Stage.values:
        raise RuleViolation(f"Unknown stage {stage!r}.", field="stage")
    reason = (reason or "").strip()
    if message := long_text_error(reason, max_length=STAGE_REASON_MAX):
        raise RuleViolation(message, field="reason", code="max_length")
    with transaction.atomic():
        incident = incident_lock(
            incident, expected_version=expected_version, depends_on=(*STATE_FIELDS, "stage", "stage_dri")
        )
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("Only an open case moves between stages.", field="status")
        if incident.stage == stage:
            raise RuleViolation("The case is already in that stage.", field="stage", code="unchanged")
        if not stage_move_allowed(incident.stage, stage):
            raise RuleViolation(
                f"A case moves forward one stage at a time; from {incident.get_stage_display()} the next is "
                f"{Stage(STAGE_ORDER[STAGE_ORDER.index(incident.stage) + 1]).label}.",
                field="stage",
                code="stage_skipped",
            )
        if not may_hand_off(incident, actor):
            raise NotAllowed(
                f"Only the stage owner ({incident.stage_dri}), the Incident Commander or a Manager moves this case; "
                "offer a handoff instead.",
                field="stage",
                code="not_owner",
            )
        forward = stage_is_forward(incident.stage, stage)
        if forward:
            require_stage_exit(incident, action="leave this stage")
        elif not reason:
            raise RuleViolation(
                f"Say why the case moves back from {stage_name(incident.stage)} to {stage_name(stage)}.",
                field="reason",
                code="reason_required",
            )
        old = incident.stage
        old_dri = incident.stage_dri
        incident.stage = stage
        incident.stage_dri = actor
        incident.last_progress_at = now
        incident_save_with_clocks(incident, actor=actor, now=now, fields=["stage", "stage_dri", "last_progress_at"])
        event_record(
            incident=incident,
            kind=EventKind.STAGE_CHANGED,
            actor=actor,
            at=now,
            old={"stage": old},
            new={"stage": stage},
            detail="" if forward else f"Moved back from {stage_name(old)} to {stage_name(stage)}: {reason}",
        )
        if old_dri != actor:
            event_record(
                incident=incident,
                kind=EventKind.ASSIGNED,
                actor=actor,
                at=now,
                old={"stage_dri": old_dri},
                new={"stage_dri": actor},
                detail=f"stage DRI of {incident.get_stage_display()}: {actor}",
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
