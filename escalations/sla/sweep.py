"""What the breach sweep fires for one case at one instant: a pure function of the case's
stored deadlines and markers (no ORM, no settings, no clock reads), tested without a
database (tests/unit/test_sweep_decide.py) and against the clock maths."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from escalations.choices import OPEN_STATUSES, ClockKind
from escalations.sla.clock import ClockStatus, stored_status


class SweepRow(Protocol):
    """The fields ``sweep_decide`` reads (an Incident, or any object with them)."""

    status: str
    acknowledged_at: datetime | None
    paused_since: datetime | None
    resolve_cycle: int
    update_seq: int
    ack_warn_at: datetime | None
    ack_due_at: datetime | None
    ack_warned_at: datetime | None
    ack_breached_at: datetime | None
    resolve_warn_at: datetime | None
    resolve_due_at: datetime | None
    resolve_warned_at: datetime | None
    resolve_breached_at: datetime | None
    update_warn_at: datetime | None
    next_update_due_at: datetime | None
    update_warned_at: datetime | None
    update_breached_at: datetime | None
    next_escalation_at: datetime | None


@dataclass(frozen=True)
class Fired:
    """A warning or breach of one clock in one cycle."""

    kind: str
    cycle: int
    due_at: datetime
    warn_at: datetime | None


@dataclass(frozen=True)
class SweepDecision:
    warnings: tuple[Fired, ...] = ()
    breaches: tuple[Fired, ...] = ()
    chain_step_due: bool = False

    @property
    def empty(self) -> bool:
        return not (self.warnings or self.breaches or self.chain_step_due)


def update_cycle(row: SweepRow) -> int:
    """The update window a breach belongs to: the number of the update that is late."""
    return row.update_seq + 1


def sweep_decide(row: SweepRow, now: datetime) -> SweepDecision:
    """What fires for ``row`` at ``now``.

    Invariants: a clock fires its breach once its stored due time has passed and it has
    not breached in this cycle; acknowledged cases never ack-breach; closed or resolved
    cases fire nothing; a paused case never climbs the chain and — because its stored
    due times are frozen (None) while paused — only breaches a deadline that passed
    before the pause began. A warning whose time passed is recorded even when the
    breach fires in the same pass (it happened; the sweep merely saw both at once)."""
    if row.status not in OPEN_STATUSES:
        return SweepDecision()
    clocks = (
        (
            ClockKind.ACK,
            1,
            row.acknowledged_at is None,
            row.ack_warn_at,
            row.ack_due_at,
            row.ack_warned_at,
            row.ack_breached_at,
        ),
        (
            ClockKind.RESOLVE,
            row.resolve_cycle,
            True,
            row.resolve_warn_at,
            row.resolve_due_at,
            row.resolve_warned_at,
            row.resolve_breached_at,
        ),
        (
            ClockKind.UPDATE,
            update_cycle(row),
            True,
            row.update_warn_at,
            row.next_update_due_at,
            row.update_warned_at,
            row.update_breached_at,
        ),
    )
    warnings: list[Fired] = []
    breaches: list[Fired] = []
    for kind, cycle, live, warn, due, warned, breached in clocks:
        if not live or breached is not None:
            continue
        status = stored_status(due_at=due, warn_at=warn, breached_at=None, now=now)
        if warned is None and warn is not None and status in (ClockStatus.WARNING, ClockStatus.BREACHED):
            warnings.append(Fired(kind, cycle, due, warn))
        if status is ClockStatus.BREACHED:
            breaches.append(Fired(kind, cycle, due, warn))
    chain_due = row.paused_since is None and row.next_escalation_at is not None and row.next_escalation_at <= now
    return SweepDecision(tuple(warnings), tuple(breaches), chain_due)
