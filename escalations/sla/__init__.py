"""Pure clock and trigger maths (no ORM, no settings, no clock reads)."""

from escalations.sla.calendar import TWENTY_FOUR_SEVEN, Calendar
from escalations.sla.clock import (
    ClockState,
    ClockStatus,
    Pause,
    QueueRank,
    clock_state,
    due_at,
    elapsed,
    pauses_until,
    queue_rank,
    stopped_in_time,
    stored_status,
    warn_at,
)
from escalations.sla.triggers import ImpactFacts, Rule, TriggerResult, evaluate, more_severe, severity_rank

__all__ = [
    "TWENTY_FOUR_SEVEN",
    "Calendar",
    "ClockState",
    "ClockStatus",
    "ImpactFacts",
    "Pause",
    "QueueRank",
    "Rule",
    "TriggerResult",
    "clock_state",
    "due_at",
    "elapsed",
    "evaluate",
    "more_severe",
    "pauses_until",
    "queue_rank",
    "stopped_in_time",
    "stored_status",
    "severity_rank",
    "warn_at",
]
