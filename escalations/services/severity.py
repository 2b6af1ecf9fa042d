"""A case's severity: changes by a person, raises by the triggers, and the floor the
triggers set for the cycle (lowered only by a Manager, with a reason)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction

from escalations.choices import (
    OPEN_STATUSES,
    EventKind,
    SeveritySource,
)
from escalations.errors import InvalidTransition, NotAllowed, RuleViolation
from escalations.models import (
    Escalation,
    EscalationStep,
    Incident,
    ResolveCycle,
    SeverityPolicy,
    TriggerRule,
)
from escalations.security.access import may_set_below_floor
from escalations.selectors.policies import policy_for
from escalations.services.checklists import checklists_instantiate
from escalations.services.clocks import SNAPSHOT_FIELDS, incident_save_with_clocks, policy_snapshot
from escalations.services.common import STATE_FIELDS, audited_save, event_record, incident_lock
from escalations.services.intake import check_severity_choice
from escalations.sla import below_floor, floor_after, less_severe_than, severity_rank
from escalations.sla.sweep import climb_due_at

# What a severity change relies on: a case whose severity, floor or state moved since the
# person's version is a conflict (services.common.incident_lock).
SEVERITY_DEPENDS_ON = (*STATE_FIELDS, "severity", "trigger_severity")


def incident_change_severity(
    *, incident: Incident | int, severity: str, reason: str, actor, now: datetime, expected_version: int | None = None
) -> Incident:
    """Re-severitise: the new policy's targets apply from the original start and the
    elapsed time is kept, so an upgrade can be breached at once. Lowering below the
    trigger floor needs a Manager."""
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation("A severity change needs a reason.", field="reason")
    with transaction.atomic():
        incident = incident_lock(incident, expected_version=expected_version, depends_on=SEVERITY_DEPENDS_ON)
        if incident.status not in OPEN_STATUSES:
            raise InvalidTransition("Reopen the case before changing its severity.", field="status")
        if severity == incident.severity:
            raise RuleViolation(f"The case is already {severity}.", field="severity", code="unchanged")
        check_severity_choice(chosen=severity, floor=incident.trigger_severity or None, reason=reason, actor=actor)
        old = severity_values(incident)
        fields = severity_policy_apply(incident, policy_for(severity), actor=actor, now=now)
        incident.severity_source = SeveritySource.MANUAL
        incident.severity_reason = reason
        incident_save_with_clocks(
            incident, actor=actor, now=now, fields=[*fields, "severity_source", "severity_reason"]
        )
        checklists_instantiate(incident=incident, actor=actor)
        severity_change_record(incident, old=old, actor=actor, now=now, detail=reason)
        return incident


def severity_policy_apply(incident: Incident, policy: SeverityPolicy, *, actor, now: datetime) -> list[str]:
    """Put the case under another severity's policy. Targets apply from the original start
    (elapsed time is kept; the clock recompute follows in _finish). The open resolve
    cycle takes the new target, and a case already on the escalation chain continues on
    the new policy's chain: while its current rung is unacknowledged, the climb past it
    is timed from when it was paged with the new chain's wait. A raise is stamped
    (``severity_raised_at``) for the breach-cause suggestion."""
    raised = severity_rank(policy.key) < severity_rank(incident.severity)
    for field, value in policy_snapshot(policy).items():
        setattr(incident, field, value)
    cycle = ResolveCycle.objects.select_for_update().filter(incident=incident, number=incident.resolve_cycle).first()
    if cycle is not None and cycle.ended_at is None and cycle.target_seconds != incident.resolve_target_seconds:
        cycle.target_seconds = incident.resolve_target_seconds
        audited_save(cycle, actor=actor, update_fields=["target_seconds"])
    fields = list(SNAPSHOT_FIELDS)
    if raised:
        incident.severity_raised_at = now
        fields.append("severity_raised_at")
    if incident.escalation_level > 0:
        rung = (
            Escalation.objects.filter(incident=incident, level=incident.escalation_level)
            .values_list("created_at", "acknowledged_at")
            .first()
        )
        if rung is not None and rung[1] is None:
            chain = {step.level: step for step in EscalationStep.objects.filter(policy=policy)}
            incident.next_escalation_at = climb_due_at(incident.escalation_level, chain, paged_at=rung[0])
        else:  # an acknowledged rung waits for the next breach
            incident.next_escalation_at = None
        fields.append("next_escalation_at")
    return fields


def severity_values(incident: Incident) -> dict:
    return {
        "severity": incident.severity,
        "ack_due_at": incident.ack_due_at,
        "resolve_due_at": incident.resolve_due_at,
        "next_update_due_at": incident.next_update_due_at,
        "ack_target_seconds": incident.ack_target_seconds,
        "resolve_target_seconds": incident.resolve_target_seconds,
    }


def severity_change_record(incident: Incident, *, old: dict, actor, now: datetime, detail: str) -> None:
    new = severity_values(incident)
    event_record(
        incident=incident,
        kind=EventKind.SEVERITY_CHANGED,
        actor=actor,
        at=now,
        old={"severity": old["severity"]},
        new={"severity": new["severity"], "source": incident.severity_source},
        detail=f"{old['severity']} → {new['severity']}: {detail}",
    )
    event_record(
        incident=incident,
        kind=EventKind.TARGETS_CHANGED,
        actor=actor,
        at=now,
        old=old,
        new=new,
        detail=f"Targets of {new['severity']} applied from the original start",
    )


def incident_raise_by_trigger(
    *, incident: Incident | int, severity: str, explanation: str, actor, now: datetime
) -> Incident:
    """Raise a case to ``severity`` because a trigger rule now matches (e.g. no progress
    for longer than a rule allows; the sweep calls this as the system user). Never
    lowers: a case already at or above ``severity`` is returned unchanged."""
    with transaction.atomic():
        incident = incident_lock(incident)
        if incident.status not in OPEN_STATUSES or severity_rank(severity) >= severity_rank(incident.severity):
            return incident
        old = severity_values(incident)
        fields = severity_policy_apply(incident, policy_for(severity), actor=actor, now=now)
        incident.severity_source = SeveritySource.TRIGGER
        incident.severity_reason = explanation
        fields += severity_floor_set(incident, given=severity, explanation=explanation, actor=actor, now=now)
        incident_save_with_clocks(
            incident, actor=actor, now=now, fields=[*fields, "severity_source", "severity_reason"]
        )
        checklists_instantiate(incident=incident, actor=actor)
        severity_change_record(incident, old=old, actor=actor, now=now, detail=explanation)
        return incident


def no_progress_candidates(*, now: datetime, limit: int = 200) -> list[tuple[int, str, str]]:
    """(case id, severity, explanation) for open cases an active no-progress rule now
    raises. One indexed range query per rule (incident_progress_idx); rules are few."""

    found: dict[int, tuple[str, str]] = {}
    for rule in TriggerRule.objects.filter(active=True, kind="no_progress").order_by("severity"):
        cutoff = now - timedelta(minutes=float(rule.threshold))
        lower = less_severe_than(rule.severity)
        rows = (
            Incident.objects.filter(status__in=OPEN_STATUSES, last_progress_at__lt=cutoff, severity__in=lower)
            .order_by("last_progress_at")
            .values_list("id", flat=True)[:limit]
        )
        for pk in rows:
            found.setdefault(pk, (rule.severity, f"{rule.severity}: {rule.name}"))
    return [(pk, severity, explanation) for pk, (severity, explanation) in found.items()]


# Fields a person may edit directly (everything else moves through a named service).
EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "team",
    "channel",
    "commander",
    "stage_dri",
    "bridge_url",
    "sentiment",
    "arr_at_risk",
    "users_affected_pct",
    "data_risk",
    "legal_risk",
    "security_risk",
)
IMPACT_FIELDS = ("arr_at_risk", "users_affected_pct", "data_risk", "legal_risk", "security_risk")
OWNER_FIELDS = ("commander", "stage_dri")


def severity_floor_set(
    incident: Incident,
    *,
    given: str | None,
    explanation: str,
    actor,
    now: datetime,
    reason: str = "",
    lowered_by: Sequence[str] = (),
) -> list[str]:
    """The severity floor (``trigger_severity``) after the triggers gave ``given`` for the
    case: the one place it changes after intake. It follows the triggers up
    (``sla.floor_after``) and never falls by itself: when ``given`` is below it
    (``sla.below_floor``), only new impact facts (``lowered_by``, the fields that
    changed) lower it, and that is a Manager's decision (``may_set_below_floor``) with a
    ``reason``, recorded on the timeline; without ``lowered_by`` the floor stays. Returns
    the fields it set, for the caller's save."""
    floor = incident.trigger_severity or None
    if below_floor(given, floor):
        if not lowered_by:
            return []
        _floor_lower_approve(incident, new_floor=given, changed=lowered_by, reason=reason, actor=actor, now=now)
        new = given
    else:
        new = floor_after(floor, given)
    incident.trigger_severity = new or ""
    incident.trigger_explanation = explanation[:300]
    return ["trigger_severity", "trigger_explanation"]


def _floor_lower_approve(
    incident: Incident, *, new_floor: str | None, changed: Sequence[str], reason: str, actor, now: datetime
) -> None:
    """Refuse lowering the floor unless a Manager does it with a reason; record it."""
    old_floor = incident.trigger_severity
    target = new_floor or "no trigger"
    if not may_set_below_floor(actor):
        raise NotAllowed(
            f"These facts would lower the severity floor from {old_floor} to {target}: that needs a Manager.",
            field=changed[0],
            code="floor_lowered",
        )
    reason = (reason or "").strip()
    if not reason:
        raise RuleViolation(f"Say why the severity floor drops from {old_floor} to {target}.", field="reason")
    event_record(
        incident=incident,
        kind=EventKind.EDITED,
        actor=actor,
        at=now,
        old={"trigger_severity": old_floor},
        new={"trigger_severity": new_floor or ""},
        detail=f"Severity floor lowered {old_floor} → {target}: {reason}",
    )
