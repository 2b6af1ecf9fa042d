"""sweep_decide and the climb: the pure "what fires now" and "which rung next"
functions, without a database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from escalations.choices import ChainTarget
from escalations.sla.sweep import MIN_RUNG_WAIT, Fired, climb_due_at, climb_to, sweep_decide

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
M = timedelta(minutes=1)


@dataclass(frozen=True)
class Row:
    status: str = "new"
    acknowledged_at: datetime | None = None
    paused_since: datetime | None = None
    resolve_cycle: int = 1
    update_seq: int = 0
    ack_warn_at: datetime | None = T0 + 22 * M
    ack_due_at: datetime | None = T0 + 30 * M
    ack_warned_at: datetime | None = None
    ack_breached_at: datetime | None = None
    resolve_warn_at: datetime | None = T0 + 360 * M
    resolve_due_at: datetime | None = T0 + 480 * M
    resolve_warned_at: datetime | None = None
    resolve_breached_at: datetime | None = None
    update_warn_at: datetime | None = T0 + 45 * M
    next_update_due_at: datetime | None = T0 + 60 * M
    update_warned_at: datetime | None = None
    update_breached_at: datetime | None = None
    next_escalation_at: datetime | None = None


def test_nothing_before_the_warning():
    assert sweep_decide(Row(), T0 + 21 * M).empty


def test_warning_then_breach():
    assert sweep_decide(Row(), T0 + 22 * M).warnings == (Fired("ack", 1, T0 + 30 * M, T0 + 22 * M),)
    warned = Row(ack_warned_at=T0 + 22 * M)
    decision = sweep_decide(warned, T0 + 30 * M)
    assert decision.warnings == () and decision.breaches == (Fired("ack", 1, T0 + 30 * M, T0 + 22 * M),)


def test_a_late_sweep_records_warning_and_breach_together():
    decision = sweep_decide(Row(), T0 + 31 * M)
    assert [f.kind for f in decision.warnings] == ["ack"] and [f.kind for f in decision.breaches] == ["ack"]


def test_breached_clocks_do_not_fire_again():
    row = Row(ack_warned_at=T0, ack_breached_at=T0 + 30 * M)
    assert sweep_decide(row, T0 + 40 * M).empty


def test_acknowledged_cases_never_ack_breach():
    row = Row(status="acknowledged", acknowledged_at=T0 + 40 * M)
    assert all(f.kind != "ack" for f in sweep_decide(row, T0 + 50 * M).breaches)


def test_resolved_and_closed_cases_fire_nothing():
    for status in ("resolved", "closed"):
        assert sweep_decide(Row(status=status, next_escalation_at=T0), T0 + 10_000 * M).empty


def test_paused_case_with_frozen_deadlines_fires_nothing_and_does_not_climb():
    paused = Row(
        status="waiting_on_customer", paused_since=T0 + 5 * M, ack_warn_at=None, ack_due_at=None, resolve_warn_at=None,
        resolve_due_at=None, update_warn_at=None, next_update_due_at=None, next_escalation_at=T0 + 6 * M,
    )  # fmt: skip
    assert sweep_decide(paused, T0 + 10_000 * M).empty


def test_cycles_name_the_resolve_cycle_and_the_late_update():
    row = Row(status="investigating", acknowledged_at=T0, resolve_cycle=3, update_seq=4)
    decision = sweep_decide(row, T0 + 500 * M)
    assert {(f.kind, f.cycle) for f in decision.breaches} == {("resolve", 3), ("update", 5)}


def test_chain_step_due_only_when_running():
    row = Row(next_escalation_at=T0 + 5 * M, ack_warn_at=None, ack_due_at=None)
    assert not sweep_decide(row, T0 + 4 * M).chain_step_due
    assert sweep_decide(row, T0 + 5 * M).chain_step_due
    assert not sweep_decide(replace(row, paused_since=T0), T0 + 5 * M).chain_step_due


@dataclass(frozen=True)
class Step:
    target: str
    wait: timedelta


# The shipped S1 chain: executives allowed at the fifth rung.
S1_CHAIN = {
    1: Step(ChainTarget.DUTY_MANAGER, 0 * M),
    2: Step(ChainTarget.COMMANDER, 5 * M),
    3: Step(ChainTarget.FIX_LEAD, 10 * M),
    4: Step(ChainTarget.MANAGER, 15 * M),
    5: Step(ChainTarget.EXECUTIVE, 30 * M),
}


def test_a_climb_is_one_rung():
    assert [climb_to(level, S1_CHAIN) for level in (0, 1, 2, 3)] == [1, 2, 3, 4]


def test_the_climb_stops_below_an_executive_rung_and_at_the_end_of_the_chain():
    assert climb_to(4, S1_CHAIN) is None  # level 5 is the executive's
    assert climb_to(5, S1_CHAIN) is None
    assert climb_to(1, {1: S1_CHAIN[1], 2: Step(ChainTarget.EXECUTIVE, 0 * M), 3: S1_CHAIN[3]}) is None
    assert climb_to(0, {1: Step(ChainTarget.EXECUTIVE, 0 * M)}) is None
    assert climb_to(1, {1: S1_CHAIN[1]}) is None
    assert climb_to(1, {1: S1_CHAIN[1], 3: S1_CHAIN[3]}) is None  # a gap ends the chain


def test_a_rungs_wait_is_the_next_rungs_and_none_runs_towards_an_executive():
    assert climb_due_at(1, S1_CHAIN, paged_at=T0) == T0 + 5 * M
    assert climb_due_at(3, S1_CHAIN, paged_at=T0) == T0 + 15 * M
    assert climb_due_at(4, S1_CHAIN, paged_at=T0) is None


def test_a_next_rung_without_a_wait_still_waits_for_the_next_sweep():
    chain = {1: S1_CHAIN[1], 2: Step(ChainTarget.COMMANDER, 0 * M)}
    assert climb_due_at(1, chain, paged_at=T0) == T0 + MIN_RUNG_WAIT > T0
