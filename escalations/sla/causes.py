"""The breach cause the facts suggest when the sweep records a breach: a pure function
of what the sweep already holds for the case (its row, its pauses, who is on shift), so
suggesting costs no query. A person confirms or corrects it in the review queue
(``services.breach_causes``); the suggestion is only ever a starting point.

The rules, first match wins:

1. a handoff acceptance time box ran out → handoff gap;
2. the severity went up, and the breach fell due no later than ``severity_window`` after
   that (new targets apply from the original start, so an upgrade can be due at once)
   → wrong severity;
3. a resolve breach of a cycle during which the clock waited on a third party (a pause
   for that reason overlapping the cycle) → third-party delay;
4. a resolve breach while the case is in the fix stage (Eng Fix Lead) → waiting on
   engineering;
5. an acknowledge breach with nobody holding the case (no stage DRI) and no Support Duty
   Manager on shift for its team → nobody owned it;
6. otherwise no suggestion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from escalations.choices import BreachCause, ClockKind, PauseReason, Stage
from escalations.sla.clock import Pause


@dataclass(frozen=True)
class BreachFacts:
    """What is known about a breach and its case at the moment it is recorded."""

    kind: str  # ClockKind
    due_at: datetime
    detected_at: datetime
    stage: str = Stage.TRIAGE
    severity_raised_at: datetime | None = None
    cycle_started_at: datetime | None = None
    pauses: Sequence[Pause] = ()
    has_owner: bool = True
    duty_manager_on_shift: bool = True


def _waited_on_third_party(facts: BreachFacts) -> bool:
    since = facts.cycle_started_at
    return any(
        p.reason == PauseReason.THIRD_PARTY
        and p.start < facts.detected_at
        and (since is None or p.end is None or p.end > since)
        for p in facts.pauses
    )


def cause_suggest(facts: BreachFacts, *, severity_window: timedelta) -> str | None:
    """The code of the cause the facts point to (a ``BreachCause`` value), or None."""
    if facts.kind == ClockKind.HANDOFF:
        return BreachCause.HANDOFF_GAP
    raised = facts.severity_raised_at
    if raised is not None and raised <= facts.detected_at and facts.due_at <= raised + severity_window:
        return BreachCause.WRONG_SEVERITY
    if facts.kind == ClockKind.RESOLVE:
        if _waited_on_third_party(facts):
            return BreachCause.THIRD_PARTY
        if facts.stage == Stage.FIX:
            return BreachCause.WAITING_ON_ENGINEERING
    if facts.kind == ClockKind.ACK and not facts.has_owner and not facts.duty_manager_on_shift:
        return BreachCause.UNASSIGNED
    return None
