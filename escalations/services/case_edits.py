"""Editing a case: its details, impact facts (which re-run the triggers and may raise
its severity), owners and team, and moving it between stages."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from escalations.choices import (
    OPEN_STATUSES,
    STAGE_ORDER,
    ChecklistFact,
    EventKind,
    SeveritySource,
    Stage,
    stage_is_forward,
    stage_move_allowed,
    stage_name,
)
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation, ServiceError
from escalations.lib.text import long_text_error, one_line
from escalations.models import (
    Incident,
)
from escalations.security.access import may_hand_off, may_own_case, may_reassign, not_a_case_worker
from escalations.selectors.policies import policy_for, triggers_evaluate
from escalations.services.checklists import checklist_facts_tick, checklists_instantiate, require_stage_exit
from escalations.services.clocks import cycle_open, incident_save_with_clocks
from escalations.services.common import STATE_FIELDS, event_record, incident_lock
from escalations.services.intake import clean_impact
from escalations.services.severity import (
    EDITABLE_FIELDS,
    IMPACT_FIELDS,
    OWNER_FIELDS,
    SEVERITY_DEPENDS_ON,
    incident_change_severity,
    severity_change_record,
    severity_floor_set,
    severity_policy_apply,
    severity_values,
)
from escalations.sla import severity_rank

# A backward move's reason goes into its timeline event's detail (500 characters) after
# "Moved back from Verify and close to Command: ".
STAGE_REASON_MAX = 400

# What a stage move relies on (services.common.incident_lock's field-level conflicts).
STAGE_DEPENDS_ON = (*STATE_FIELDS, "stage", "stage_dri")


def update_depends_on(changes) -> tuple[str, ...]:
    """What an edit relies on: the fields it sets, and whether the case is open."""
    return (*changes, "status")


def _owners_check(incident: Incident, changes: dict, *, actor) -> None:
    """Owners and the team change through a handoff, or here by the current stage DRI,
    the commander or a Manager; anyone who may change the case fills an empty slot."""
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


def _impact_reapply(
    incident: Incident, new: dict, *, reason: str, actor, now: datetime
) -> tuple[dict | None, list[str]]:
    """New impact facts re-run the triggers: a lower floor is a Manager's call (with a
    reason), a higher one raises the severity at once. Returns the severity before a
    raise (None: no raise) and the fields changed."""
    fields: list[str] = []
    severity_old = None
    if not set(new) & set(IMPACT_FIELDS):
        return None, fields
    result = triggers_evaluate(**{f: getattr(incident, f) for f in IMPACT_FIELDS})
    fields += severity_floor_set(
        incident,
        given=result.severity,
        explanation=result.explanation,
        lowered_by=[f for f in IMPACT_FIELDS if f in new],
        reason=reason,
        actor=actor,
        now=now,
    )
    if result.severity and severity_rank(result.severity) < severity_rank(incident.severity):
        if incident.status not in OPEN_STATUSES:
            raise RuleViolation("Reopen the case before raising its impact.", field="status")
        severity_old = severity_values(incident)
        fields += severity_policy_apply(incident, policy_for(result.severity), actor=actor, now=now)
        incident.severity_source = SeveritySource.TRIGGER
        incident.severity_reason = result.explanation
        fields += ["severity_source", "severity_reason"]
    return severity_old, fields


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
        incident = incident_lock(incident, expected_version=expected_version, depends_on=update_depends_on(changes))
        if "arr_at_risk" in changes or "users_affected_pct" in changes:
            arr, pct = clean_impact(
                arr_at_risk=changes.get("arr_at_risk", incident.arr_at_risk),
                users_affected_pct=changes.get("users_affected_pct", incident.users_affected_pct),
            )
            changes["arr_at_risk"], changes["users_affected_pct"] = arr, pct
        _owners_check(incident, changes, actor=actor)
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
        severity_old, raised = _impact_reapply(incident, new, reason=reason, actor=actor, now=now)
        fields += raised
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
        incident = incident_lock(incident, expected_version=expected_version, depends_on=STAGE_DEPENDS_ON)
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
        if not may_hand_off(actor, incident):
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


def incident_patch(
    *,
    incident: Incident | int,
    actor,
    now: datetime,
    expected_version: int | None = None,
    severity: str | None = None,
    severity_reason: str | None = None,
    stage: str | None = None,
    stage_reason: str | None = None,
    **changes,
) -> Incident:
    """Several changes to one case at once, all or nothing (the API's PATCH): details,
    impact facts and owners (``incident_update``, with ``severity_reason`` as the reason
    a Manager lowers the floor), then ``severity`` (``incident_change_severity``), then
    ``stage`` (``incident_set_stage``, ``stage_reason`` when it moves back). A severity
    or stage equal to the case's is no change. Stale exactly as each part is on its own
    (the web's rule): a conflict only when a field one of the parts changes or relies on
    changed since ``expected_version``."""
    depends_on: list[str] = []
    if changes:
        depends_on += update_depends_on(changes)
    if severity is not None:
        depends_on += SEVERITY_DEPENDS_ON
    if stage is not None:
        depends_on += STAGE_DEPENDS_ON
    with transaction.atomic():
        # One lock and one version check for the whole change; the parts run inside this
        # transaction on the locked row, so nobody can interleave between them.
        current = incident_lock(incident, expected_version=expected_version, depends_on=depends_on)
        if changes:
            current = incident_update(incident=current, actor=actor, now=now, reason=severity_reason or "", **changes)
        if severity is not None and severity != current.severity:
            current = incident_change_severity(
                incident=current, severity=severity, reason=severity_reason or "", actor=actor, now=now
            )
        if stage is not None and stage != current.stage:
            try:
                current = incident_set_stage(
                    incident=current, stage=stage, reason=stage_reason or "", actor=actor, now=now
                )
            except ServiceError as exc:
                # incident_set_stage names its own argument; here it is stage_reason.
                for error in exc.all_errors():
                    if error.field == "reason":
                        error.field = "stage_reason"
                raise
        return current
