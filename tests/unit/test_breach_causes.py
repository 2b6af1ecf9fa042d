"""The breach-cause suggestion rules (escalations.sla.causes): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from escalations.choices import BreachCause, ClockKind, PauseReason, Stage
from escalations.sla import Pause
from escalations.sla.causes import BreachFacts, cause_suggest

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)
WINDOW = 30 * M


def suggest(**values) -> str | None:
    facts = {"kind": ClockKind.RESOLVE, "due_at": T0, "detected_at": T0 + M, **values}
    return cause_suggest(BreachFacts(**facts), severity_window=WINDOW)


def test_an_unaccepted_handoff_is_a_handoff_gap_whatever_else_holds():
    assert suggest(kind=ClockKind.HANDOFF) == BreachCause.HANDOFF_GAP
    assert suggest(kind=ClockKind.HANDOFF, severity_raised_at=T0, stage=Stage.FIX) == BreachCause.HANDOFF_GAP


@pytest.mark.parametrize("kind", [ClockKind.ACK, ClockKind.RESOLVE, ClockKind.UPDATE])
def test_a_breach_due_at_once_after_a_severity_raise_is_wrong_severity(kind):
    # Targets apply from the original start: the raise made the breach due in the past.
    assert suggest(kind=kind, due_at=T0 - 20 * M, severity_raised_at=T0, detected_at=T0 + M) == (
        BreachCause.WRONG_SEVERITY
    )


def test_wrong_severity_holds_up_to_the_end_of_the_window_only():
    raised = T0 - WINDOW
    assert suggest(due_at=T0, severity_raised_at=raised, detected_at=T0 + M) == BreachCause.WRONG_SEVERITY
    assert suggest(due_at=T0 + M, severity_raised_at=raised, detected_at=T0 + 2 * M) is None
    # A wider window (a setting) reaches further.
    facts = BreachFacts(kind=ClockKind.ACK, due_at=T0 + M, detected_at=T0 + 2 * M, severity_raised_at=raised)
    assert cause_suggest(facts, severity_window=WINDOW + M) == BreachCause.WRONG_SEVERITY


def test_a_raise_after_the_breach_was_detected_says_nothing():
    assert suggest(due_at=T0, detected_at=T0 + M, severity_raised_at=T0 + 2 * M) is None


def test_a_resolve_breach_of_a_cycle_that_waited_on_a_third_party():
    vendor = Pause(T0 - 90 * M, T0 - 60 * M, PauseReason.THIRD_PARTY)
    assert suggest(cycle_started_at=T0 - 120 * M, pauses=[vendor]) == BreachCause.THIRD_PARTY
    # Still waiting (an open pause that began before detection) counts too.
    assert suggest(pauses=[Pause(T0 - 5 * M, None, PauseReason.THIRD_PARTY)]) == BreachCause.THIRD_PARTY


def test_a_third_party_wait_of_an_earlier_cycle_or_on_the_customer_says_nothing():
    earlier = Pause(T0 - 300 * M, T0 - 200 * M, PauseReason.THIRD_PARTY)
    assert suggest(cycle_started_at=T0 - 120 * M, pauses=[earlier]) is None
    assert suggest(pauses=[Pause(T0 - 90 * M, T0 - 60 * M, PauseReason.CUSTOMER)]) is None


def test_only_the_resolve_clock_reads_the_third_party_wait():
    vendor = Pause(T0 - 90 * M, T0 - 60 * M, PauseReason.THIRD_PARTY)
    assert suggest(kind=ClockKind.UPDATE, pauses=[vendor]) is None


def test_a_resolve_breach_in_the_fix_stage_waits_on_engineering():
    assert suggest(stage=Stage.FIX) == BreachCause.WAITING_ON_ENGINEERING
    assert suggest(stage=Stage.COMMAND) is None
    assert suggest(kind=ClockKind.UPDATE, stage=Stage.FIX) is None
    # A third-party wait is the more specific fact.
    vendor = Pause(T0 - 90 * M, T0 - 60 * M, PauseReason.THIRD_PARTY)
    assert suggest(stage=Stage.FIX, pauses=[vendor]) == BreachCause.THIRD_PARTY


def test_an_acknowledge_breach_nobody_owned():
    assert suggest(kind=ClockKind.ACK, has_owner=False, duty_manager_on_shift=False) == BreachCause.UNASSIGNED
    assert suggest(kind=ClockKind.ACK, has_owner=False, duty_manager_on_shift=True) is None
    assert suggest(kind=ClockKind.ACK, has_owner=True, duty_manager_on_shift=False) is None


def test_no_fact_no_suggestion():
    for kind in (ClockKind.ACK, ClockKind.RESOLVE, ClockKind.UPDATE):
        assert suggest(kind=kind) is None


def test_pause_reason_plays_no_part_in_pause_equality():
    # The clock maths compare pauses; a reason loaded for the suggestion must not change that.
    assert Pause(T0, T0 + M, PauseReason.THIRD_PARTY) == Pause(T0, T0 + M)
