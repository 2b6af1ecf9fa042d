"""sweep_decide: the pure "what fires now" function, without a database."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from escalations.sla.sweep import Fired, sweep_decide

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
