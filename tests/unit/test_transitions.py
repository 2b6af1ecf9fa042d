"""escalations.choices: the one table of allowed status moves. No database."""

from __future__ import annotations

from itertools import product

import pytest

from escalations.choices import (
    ALLOWED_TRANSITIONS,
    OPEN_STATUSES,
    PAUSE_STATUS,
    PAUSED_STATUSES,
    PauseReason,
    Status,
    can_transition,
)

S = Status
EXPECTED = {
    (S.NEW, S.ACKNOWLEDGED),
    (S.NEW, S.RESOLVED),
    (S.ACKNOWLEDGED, S.INVESTIGATING),
    (S.ACKNOWLEDGED, S.WAITING_ON_CUSTOMER),
    (S.ACKNOWLEDGED, S.WAITING_ON_THIRD_PARTY),
    (S.ACKNOWLEDGED, S.RESOLVED),
    (S.INVESTIGATING, S.WAITING_ON_CUSTOMER),
    (S.INVESTIGATING, S.WAITING_ON_THIRD_PARTY),
    (S.INVESTIGATING, S.RESOLVED),
    (S.WAITING_ON_CUSTOMER, S.INVESTIGATING),
    (S.WAITING_ON_CUSTOMER, S.RESOLVED),
    (S.WAITING_ON_THIRD_PARTY, S.INVESTIGATING),
    (S.WAITING_ON_THIRD_PARTY, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.INVESTIGATING),
    (S.CLOSED, S.INVESTIGATING),
}


@pytest.mark.parametrize(("old", "new"), list(product(S.values, S.values)))
def test_can_transition_matches_the_table(old, new):
    assert can_transition(old, new) == ((old, new) in EXPECTED)


def test_every_status_has_a_row():
    assert set(ALLOWED_TRANSITIONS) == set(S.values)


def test_no_status_moves_to_itself():
    assert not any(can_transition(s, s) for s in S.values)


def test_closed_and_resolved_only_reopen_to_investigating():
    assert ALLOWED_TRANSITIONS[S.CLOSED] == {S.INVESTIGATING}
    assert ALLOWED_TRANSITIONS[S.RESOLVED] - {S.CLOSED} == {S.INVESTIGATING}


def test_waiting_statuses_resume_or_resolve_only():
    for waiting in PAUSED_STATUSES:
        assert ALLOWED_TRANSITIONS[waiting] == {S.INVESTIGATING, S.RESOLVED}


def test_nothing_reaches_closed_except_from_resolved():
    assert {old for old in S.values if can_transition(old, S.CLOSED)} == {S.RESOLVED}


def test_every_open_status_can_be_resolved_and_every_acknowledged_one_paused():
    for status in OPEN_STATUSES:
        assert can_transition(status, S.RESOLVED)
        if status not in PAUSED_STATUSES and status != S.NEW:
            assert all(can_transition(status, PAUSE_STATUS[r]) for r in PauseReason)


def test_a_new_case_cannot_wait_before_it_is_acknowledged():
    assert not any(can_transition(S.NEW, PAUSE_STATUS[r]) for r in PauseReason)


def test_nothing_goes_back_to_acknowledged():
    assert [old for old in S.values if can_transition(old, S.ACKNOWLEDGED)] == [S.NEW]


def test_unknown_status_allows_nothing():
    assert not can_transition("bogus", S.NEW)
    assert not can_transition(S.NEW, "bogus")


def test_pause_reasons_map_to_waiting_statuses():
    assert PAUSE_STATUS == {
        PauseReason.CUSTOMER: S.WAITING_ON_CUSTOMER,
        PauseReason.THIRD_PARTY: S.WAITING_ON_THIRD_PARTY,
    }
    assert set(PAUSE_STATUS.values()) == set(PAUSED_STATUSES)
