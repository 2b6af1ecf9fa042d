"""Planning one case for the breach sweep: what ``escalations.sla.sweep.sweep_decide``
says fired becomes the rows that record it (warnings, breaches, escalation rungs, events,
notifications), held as plain column values until ``escalations.services.engine.sweep`` writes
them in one batch."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings

from escalations.choices import OPEN_STATUSES, ChainTarget, ClockKind, EventKind, NotificationChannel
from escalations.lib.text import duration_text
from escalations.models import HandoffPacket, Incident, ShiftRole
from escalations.selectors.clocks import pauses_by_incident
from escalations.services.clocks import incident_recompute_clocks
from escalations.services.common import event_values
from escalations.services.engine.roster import Recipient, Roster, duty_managers, recipients_for, step_recipients
from escalations.services.notifications import notification_values
from escalations.sla import Pause
from escalations.sla.causes import BreachFacts, cause_suggest
from escalations.sla.sweep import Fired, climb_due_at, climb_to, sweep_decide

WARNING_CHANNELS = (NotificationChannel.IN_APP, NotificationChannel.EMAIL)

# --- Planning one case --------------------------------------------------------------------
#
# A batch of 500 newly due cases writes ~3,000 rows and as many history rows. The plan
# holds them as plain column values (field attname → value), not model instances, which
# the COPY writer would only take apart again. A row
# that points at another row of the same batch holds the parent row itself under the
# foreign key's name (``"breach": breach_row``); the write resolves it to the parent's id.

Row = dict[str, Any]


@dataclass
class Known:
    """What is already recorded for a case (used after a unique-constraint conflict)."""

    breaches: set[tuple[str, int]] = field(default_factory=set)
    warnings: set[tuple[str, int]] = field(default_factory=set)
    levels: set[int] = field(default_factory=set)


class Breached(NamedTuple):
    """A new breach row of the plan and how the escalation's reason names it."""

    row: Row
    reason: str


@dataclass
class Plan:
    """The rows one case's sweep writes. Nothing is saved until ``_write``."""

    incident: Incident
    warnings: list[Row] = field(default_factory=list)
    breaches: list[Row] = field(default_factory=list)
    escalations: list[Row] = field(default_factory=list)
    notifications: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    handoffs: list[HandoffPacket] = field(default_factory=list)


def plan_event(plan: Plan, *, kind: str, actor, now: datetime, new: dict, detail: str) -> None:
    plan.events.append(
        {
            "incident_id": plan.incident.pk,
            "actor_id": actor.pk,
            **event_values(kind=kind, at=now, new=new, detail=detail),
        }
    )


def _notify(
    plan: Plan, recipients: list[Recipient], *, kind: str, key: str, subject: str, text: str, now: datetime,
    escalation: Row | None = None,
) -> None:  # fmt: skip
    incident = plan.incident
    for recipient in recipients:
        values = notification_values(
            incident=incident, recipient=recipient, kind=kind, key=key, subject=subject, text=text, now=now
        )
        plan.notifications.append({**values, "incident_id": incident.pk, "escalation": escalation})


# ``get_target_display()`` rebuilds its lookup on every call.
TARGET_LABELS = dict(ChainTarget.choices)


def _clock_label(kind: str) -> str:
    return ClockKind(kind).label.lower()


def plan_handoff_breach(plan: Plan, packet: HandoffPacket, *, now: datetime, actor, known: Known) -> Breached | None:
    """An offered handoff past its acceptance time box: mark the packet and record its
    breach (once per packet, ``breach_once_per_cycle``). Returns the breach for the climb,
    or None when an earlier sweep already recorded it."""
    packet.accept_breached_at = now
    plan.handoffs.append(packet)
    if (ClockKind.HANDOFF, packet.pk) in known.breaches:
        return None
    facts = BreachFacts(kind=ClockKind.HANDOFF, due_at=packet.accept_due_at, detected_at=now)
    breach = {
        "incident_id": plan.incident.pk, "kind": ClockKind.HANDOFF, "cycle": packet.pk, "handoff_id": packet.pk,
        "severity": plan.incident.severity, "due_at": packet.accept_due_at, "detected_at": now,
        "cause_suggested_id": _suggest(facts),
    }  # fmt: skip
    plan.breaches.append(breach)
    receiver = packet.to_user or packet.to_team
    plan_event(
        plan, kind=EventKind.BREACHED, actor=actor, now=now,
        new={"clock": ClockKind.HANDOFF, "handoff": packet.pk, "due_at": packet.accept_due_at},
        detail=f"Handoff to {receiver} not accepted by {packet.accept_due_at:%H:%M} UTC",
    )  # fmt: skip
    return Breached(breach, f"Handoff to {receiver} not accepted in time")


def _suggest(facts: BreachFacts) -> str | None:
    return cause_suggest(facts, severity_window=settings.BREACH_CAUSE_SEVERITY_WINDOW)


def _clock_breach_facts(
    incident: Incident, fired: Fired, *, now: datetime, pauses: Sequence[Pause], roster: Roster
) -> BreachFacts:
    """The facts of a clock breach for ``cause_suggest``, from what the sweep holds."""
    has_owner = incident.stage_dri_id is not None
    on_shift = True
    if fired.kind == ClockKind.ACK and not has_owner:  # only that rule reads the roster
        on_shift = bool(roster.on_shift(ShiftRole.DUTY_MANAGER, incident.team_id))
    return BreachFacts(
        kind=fired.kind,
        due_at=fired.due_at,
        detected_at=now,
        stage=incident.stage,
        severity_raised_at=incident.severity_raised_at,
        cycle_started_at=incident.cycle_started_at,
        pauses=pauses,
        has_owner=has_owner,
        duty_manager_on_shift=on_shift,
    )


def plan_climb(plan: Plan, *, roster: Roster, actor, now: datetime, known: Known, breaches: list[Breached]) -> None:
    """Raise the case ONE rung and page that rung: for ``breaches`` — every new breach of
    the case this sweep found, all named in the reason, the first linked — or, with none,
    because nobody acknowledged the current rung within the next rung's wait. The new
    rung's own wait starts (``next_escalation_at``); acknowledging stops it.

    At the top of what a climb may reach (the end of the chain, or the rung below an
    executive one) the level stays and no wait runs; a breach is told to the rung the
    case is on."""
    incident = plan.incident
    chain = roster.chains.get(incident.policy_id, {})
    current = max(incident.escalation_level, max(known.levels, default=0))
    if breaches:
        reason = "; ".join(b.reason for b in breaches)
        if len(breaches) > 1:
            reason = f"{len(breaches)} breaches: {reason}"
    else:
        following = chain.get(current + 1)
        waited = f" within {duration_text(following.wait)}" if following is not None else ""
        reason = f"Nobody acknowledged level {current}{waited}"
    level = climb_to(current, chain)
    if level is None:
        incident.next_escalation_at = None
        top = chain.get(current)
        if not breaches or top is None:
            return
        recipients, _ = step_recipients(top, incident, roster)
        first = breaches[0].row
        _notify(
            plan, recipients, kind="breach", key=f"breach:{incident.pk}:{first['kind']}:{first['cycle']}", now=now,
            subject=f"Breach: {incident.severity} {incident.reference} {incident.title}",
            text=f"[{incident.severity}] {incident.reference} {incident.title}: {reason} (top of the escalation chain)",
        )  # fmt: skip
        plan_event(
            plan, kind=EventKind.NOTE, actor=actor, now=now, new={"notified": [r.as_dict() for r in recipients]},
            detail=f"Top of the escalation chain already reached; {reason}",
        )  # fmt: skip
        return
    step = chain[level]
    recipients, is_executive = step_recipients(step, incident, roster)
    notified = [r.as_dict() for r in recipients]
    target_label = TARGET_LABELS.get(step.target, step.target)
    escalation = {
        "incident_id": incident.pk,
        "level": level,
        "reason": reason[:300],
        "breach": breaches[0].row if breaches else None,
        "step_id": step.pk,
        "notified": notified,
        "created_at": now,
        "actor_id": actor.pk,
        "is_executive": is_executive,
    }
    plan.escalations.append(escalation)
    old_level = incident.escalation_level
    incident.escalation_level = level
    incident.next_escalation_at = climb_due_at(level, chain, paged_at=now)
    answer = ""
    if incident.next_escalation_at is not None:
        above = chain[level + 1]
        answer = (
            f" Acknowledge within {duration_text(above.wait)}, or it goes to level {level + 1} "
            f"({TARGET_LABELS.get(above.target, above.target)})."
        )
    _notify(
        plan, recipients, kind="escalation", key=f"esc:{incident.pk}:L{level}", now=now, escalation=escalation,
        subject=f"Escalation L{level}: {incident.severity} {incident.reference} {incident.title}",
        text=f"[{incident.severity}] {incident.reference} {incident.title}: {reason}. "
        f"Escalated to level {level} ({target_label}).{answer}",
    )  # fmt: skip
    names = ", ".join(sorted({r.label for r in recipients})) or "nobody on duty"
    plan_event(
        plan,
        kind=EventKind.ESCALATED,
        actor=actor,
        now=now,
        new={
            "level": level,
            "target": step.target,
            "notified": notified,
            "executive": is_executive,
            "breaches": [[b.row["kind"], b.row["cycle"]] for b in breaches],
            "climbs_at": incident.next_escalation_at,
        },
        detail=f"Level {old_level} → {level} ({target_label}): {reason}. Notified {names}",
    )


def _warn_recipients(incident: Incident, roster: Roster):
    people = [incident.stage_dri] if incident.stage_dri_id is not None else duty_managers(incident, roster)
    return recipients_for(people, WARNING_CHANNELS, incident=incident, roster=roster)


def plan_incident(
    incident: Incident,
    *,
    now: datetime,
    roster: Roster,
    actor,
    known: Known | None = None,
    pauses: list[Pause] | None = None,
    handoffs: Sequence[HandoffPacket] = (),
) -> Plan:
    """Decide what fired for a locked case and build (unsaved) the rows that record it;
    set the markers, climb at most one rung and recompute ``next_check_at`` on the
    instance. ``pauses``: the case's pauses when the caller loaded them for a batch (else
    one query). ``handoffs``: its locked offered packets past their time box, whose
    breaches climb with the case's own."""
    known = known or Known()
    plan = Plan(incident=incident)
    decision = sweep_decide(incident, now)
    breached_kinds = {b.kind for b in decision.breaches}
    if pauses is None and decision.breaches:
        # The cause suggestion reads them; the clock recompute below then reuses them.
        pauses = pauses_by_incident([incident.pk])[incident.pk]
    for fired in decision.warnings:
        setattr(incident, f"{fired.kind}_warned_at", now)
        if (fired.kind, fired.cycle) in known.warnings:
            continue
        plan.warnings.append(
            {"incident_id": incident.pk, "kind": fired.kind, "cycle": fired.cycle, "warn_at": fired.warn_at,
             "due_at": fired.due_at, "detected_at": now}
        )  # fmt: skip
        plan_event(
            plan, kind=EventKind.WARNING, actor=actor, now=now,
            new={"clock": fired.kind, "cycle": fired.cycle, "warn_at": fired.warn_at, "due_at": fired.due_at},
            detail=f"{incident.warning_pct} % of the {_clock_label(fired.kind)} target used; due {fired.due_at:%H:%M} UTC",
        )  # fmt: skip
        if fired.kind in breached_kinds:
            continue  # the breach notice below supersedes a warning seen in the same pass
        _notify(
            plan, _warn_recipients(incident, roster), kind="warning", now=now,
            key=f"warn:{incident.pk}:{fired.kind}:{fired.cycle}",
            subject=f"Warning: {incident.reference} {_clock_label(fired.kind)} due {fired.due_at:%H:%M} UTC",
            text=f"[{incident.severity}] {incident.reference} {incident.title}: {_clock_label(fired.kind)} "
            f"target {incident.warning_pct} % used, due {fired.due_at:%Y-%m-%d %H:%M} UTC.",
        )  # fmt: skip
    breaches: list[Breached] = []
    for fired in decision.breaches:
        setattr(incident, f"{fired.kind}_breached_at", now)
        if (fired.kind, fired.cycle) in known.breaches:
            continue  # recorded (and escalated) by an earlier sweep
        facts = _clock_breach_facts(incident, fired, now=now, pauses=pauses or (), roster=roster)
        breach = {
            "incident_id": incident.pk, "kind": fired.kind, "cycle": fired.cycle, "severity": incident.severity,
            "due_at": fired.due_at, "detected_at": now, "cause_suggested_id": _suggest(facts),
        }  # fmt: skip
        plan.breaches.append(breach)
        late = int((now - fired.due_at).total_seconds())
        label = ClockKind(fired.kind).label
        plan_event(
            plan, kind=EventKind.BREACHED, actor=actor, now=now,
            new={"clock": fired.kind, "cycle": fired.cycle, "due_at": fired.due_at, "detected_late_seconds": late},
            detail=f"{label} target missed (due {fired.due_at:%Y-%m-%d %H:%M} UTC)",
        )  # fmt: skip
        breaches.append(Breached(breach, f"{label} target breached (due {fired.due_at:%H:%M} UTC)"))
    for packet in handoffs:
        found = plan_handoff_breach(plan, packet, now=now, actor=actor, known=known)
        if found is not None:
            breaches.append(found)
    # One rung per case per sweep, whatever fired; a paused case's wait never runs out
    # (sweep_decide), though a breach found while it is paused still climbs.
    if incident.status in OPEN_STATUSES and (breaches or decision.chain_step_due):
        plan_climb(plan, roster=roster, actor=actor, now=now, known=known, breaches=breaches)
    incident_recompute_clocks(incident, now=now, pauses=pauses)
    if incident.next_check_at is not None and incident.next_check_at <= now:
        # Should not happen (every fired item set its marker); never let one row spin.
        raise RuntimeError(f"next_check_at {incident.next_check_at.isoformat()} not after now after processing")
    return plan
