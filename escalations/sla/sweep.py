"""What the breach sweep fires for one case at one instant, and how far it climbs the
escalation chain: pure functions of the case's stored deadlines and markers and of the
chain's rungs (no ORM, no settings, no clock reads), tested without a database
(tests/unit/test_sweep_decide.py) and against the clock maths.

The climb (docs/playbook.md): each breach raises the case one rung and pages that rung;
the chain goes past a rung only when a new breach happens or when the people the rung
paged have not acknowledged within the next rung's wait (``Incident.next_escalation_at``,
cleared when they acknowledge). One rung per case per sweep, however many breaches the
sweep found; never to an executive rung."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from escalations.choices import OPEN_STATUSES, ChainTarget, ClockKind
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
    """What fired. ``chain_step_due``: the current rung's acknowledge wait ran out (the
    case is not paused). However many breaches fired, the case climbs one rung."""

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


class ChainStep(Protocol):
    """The fields of a chain rung (an EscalationStep) the climb reads."""

    target: str
    wait: timedelta


# One rung per case per sweep: a rung whose next rung has no wait still leaves the people
# it paged until the next sweep, never the very pass that paged them.
MIN_RUNG_WAIT = timedelta(seconds=1)


def climb_to(level: int, chain: Mapping[int, ChainStep]) -> int | None:
    """The rung a climb from ``level`` reaches (a breach's, or a timer's): ``level + 1``
    when ``chain`` (level → rung) has it, else None — the top of the chain. Never an
    executive rung: the climb stops below it, as executives are reached only through an
    explicit request."""
    step = chain.get(level + 1)
    if step is None or step.target == ChainTarget.EXECUTIVE:
        return None
    return level + 1


def climb_due_at(level: int, chain: Mapping[int, ChainStep], *, paged_at: datetime) -> datetime | None:
    """When the chain climbs past rung ``level``, paged at ``paged_at``, if nobody it paged
    acknowledges: once the next rung's wait has passed. None when no climb is left."""
    following = climb_to(level, chain)
    if following is None:
        return None
    return paged_at + max(chain[following].wait, MIN_RUNG_WAIT)
