"""The stored case's clocks: the policy snapshot a case runs under, the denormalised
deadline fields recomputed on every change, and the resolve cycles. The reads they
rest on are ``selectors.clocks``."""

from __future__ import annotations

from datetime import datetime, timedelta

from escalations.choices import OPEN_STATUSES
from escalations.models import Incident, ResolveCycle, SeverityPolicy
from escalations.selectors.clocks import (
    calendar_from_model,
    incident_pauses,
    snapshot_calendar,
    update_clock_start,
)
from escalations.services.common import audited_insert, audited_save, bump_version
from escalations.sla import (
    Pause,
    due_at,
    elapsed,
    pauses_until,
    queue_rank,
    warn_at,
)

# The denormalised fields this module owns on Incident.
CLOCK_FIELDS = [
    "ack_due_at",
    "resolve_due_at",
    "next_update_due_at",
    "ack_warn_at",
    "resolve_warn_at",
    "update_warn_at",
    "paused_seconds",
    "next_check_at",
    "next_deadline_at",
    "queue_rank",
]


def policy_snapshot(policy: SeverityPolicy) -> dict:
    """The targets a case runs under, copied from its policy."""
    return {
        "policy": policy,
        "severity": policy.key,
        "ack_target_seconds": int(policy.ack_target.total_seconds()),
        "resolve_target_seconds": int(policy.resolve_target.total_seconds()),
        "update_cadence_seconds": int(policy.update_cadence.total_seconds()),
        "warning_pct": policy.warning_pct,
        "calendar_snapshot": calendar_from_model(policy.calendar).to_json(),
    }


SNAPSHOT_FIELDS = [
    "policy",
    "severity",
    "ack_target_seconds",
    "resolve_target_seconds",
    "update_cadence_seconds",
    "warning_pct",
    "calendar_snapshot",
]


def incident_recompute_clocks(incident: Incident, *, now: datetime, pauses: list[Pause] | None = None) -> list[str]:
    """Recompute every denormalised clock field from the snapshot, the pauses and the
    calendar. Returns CLOCK_FIELDS for the caller's ``update_fields``.

    Invariant: ``next_check_at`` is the earliest pending warning, breach or escalation
    rung (null when none), so the sweep's range scan finds exactly the cases it must act on.
    """
    pauses = incident_pauses(incident) if pauses is None else pauses
    calendar = snapshot_calendar(incident.calendar_snapshot)
    pct = incident.warning_pct
    start = incident.clock_started_at
    is_open = incident.status in OPEN_STATUSES

    def due(
        clock_start: datetime | None, seconds: int, stopped_at: datetime | None = None
    ) -> tuple[datetime | None, datetime | None]:
        if clock_start is None:
            return None, None
        target = timedelta(seconds=seconds)
        seen = pauses_until(pauses, stopped_at)
        return due_at(clock_start, target, seen, calendar), warn_at(clock_start, target, pct, seen, calendar)

    if incident.acknowledged_at is None or incident.ack_due_at is None:
        incident.ack_due_at, incident.ack_warn_at = due(start, incident.ack_target_seconds, incident.acknowledged_at)
    # else: a stopped acknowledge clock keeps the due time it stopped against.
    cycle_start = incident.cycle_started_at if start else None
    incident.resolve_due_at, incident.resolve_warn_at = due(
        cycle_start, incident.resolve_target_seconds, incident.resolved_at
    )
    if is_open:
        incident.next_update_due_at, incident.update_warn_at = due(
            update_clock_start(incident), incident.update_cadence_seconds
        )
    else:
        incident.next_update_due_at = incident.update_warn_at = None
    if cycle_start is not None and now > cycle_start:
        incident.paused_seconds = int(
            (elapsed(cycle_start, now, (), calendar) - elapsed(cycle_start, now, pauses, calendar)).total_seconds()
        )
    else:
        incident.paused_seconds = 0

    pending: list[datetime | None] = []
    deadlines: list[datetime | None] = []

    def watch(due: datetime | None, warn: datetime | None, breached: datetime | None, warned: datetime | None) -> None:
        # A clock frozen by a pause (due unknown) has nothing that can fire, not even a
        # warning whose moment passed before the pause: it fires after the resume.
        if due is None or breached is not None:
            return
        pending.append(due)
        if warned is None:
            pending.append(warn)

    if is_open:
        if incident.acknowledged_at is None:
            deadlines.append(incident.ack_due_at)
            watch(incident.ack_due_at, incident.ack_warn_at, incident.ack_breached_at, incident.ack_warned_at)
        deadlines += [incident.resolve_due_at, incident.next_update_due_at]
        watch(
            incident.resolve_due_at, incident.resolve_warn_at, incident.resolve_breached_at, incident.resolve_warned_at
        )
        watch(
            incident.next_update_due_at, incident.update_warn_at, incident.update_breached_at, incident.update_warned_at
        )
        if incident.paused_since is None:  # a paused case does not climb the chain
            pending.append(incident.next_escalation_at)
    incident.next_check_at = min((t for t in pending if t is not None), default=None)
    incident.next_deadline_at = min((t for t in deadlines if t is not None), default=None)
    acked = incident.acknowledged_at is not None
    incident.queue_rank = queue_rank(
        is_open=is_open,
        started=start is not None,
        paused=incident.paused_since is not None,
        breached=incident.is_breached,
        warned=bool((incident.ack_warned_at and not acked) or incident.resolve_warned_at or incident.update_warned_at),
    )
    return list(CLOCK_FIELDS)


def cycle_open(incident: Incident, *, actor, started_at: datetime) -> ResolveCycle:
    """Record the start of the case's current resolve cycle with the full target; its
    result (met or missed) is written when the case is resolved."""
    cycle = ResolveCycle(
        incident=incident,
        number=incident.resolve_cycle,
        started_at=started_at,
        target_seconds=incident.resolve_target_seconds,
    )
    return audited_insert([cycle], actor=actor)[0]


def incident_save_with_clocks(incident: Incident, *, actor, now: datetime, fields: list[str]) -> Incident:
    """Save a changed case: its clocks recomputed, its version bumped, one history row."""
    fields = bump_version(incident, fields + incident_recompute_clocks(incident, now=now))
    audited_save(incident, actor=actor, update_fields=fields)
    return incident
