"""escalations.sla.triggers: severity from objective impact facts. Pure, no database.
The rules below are the playbook's shipped defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from escalations.choices import SeverityKey
from escalations.sla.triggers import (
    SEVERITY_ORDER,
    ImpactFacts,
    Rule,
    below_floor,
    evaluate,
    floor_after,
    less_severe_than,
    more_severe,
    rule_matches,
    severity_rank,
)

DEFAULTS = [
    Rule("Data risk", "data_risk", "S1"),
    Rule("Legal risk", "legal_risk", "S1"),
    Rule("10 % or more of users affected", "users_affected_pct", "S1", Decimal(10)),
    Rule("$50,000 or more ARR at risk", "arr_at_risk", "S2", Decimal(50000)),
]
T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_severity_rank_and_more_severe():
    assert [severity_rank(k) for k in ("S1", "S2", "S3", "S4")] == [1, 2, 3, 4]
    assert more_severe("S2", "S1") == "S1"
    assert more_severe("S3", "S4") == "S3"
    assert more_severe("S2", "S2") == "S2"
    assert less_severe_than("S2") == ("S3", "S4")
    assert less_severe_than("S4") == ()


def test_one_severity_order():
    """The choices list the keys in SEVERITY_ORDER, and the keys sort as text in that
    order, so ordering cases by the severity column (queues, the API) is that order too."""
    assert tuple(SeverityKey.values) == SEVERITY_ORDER
    assert tuple(sorted(SEVERITY_ORDER)) == SEVERITY_ORDER


def test_the_floor_rises_with_the_triggers_and_never_falls_by_itself():
    assert floor_after(None, "S2") == "S2"
    assert floor_after("S2", "S1") == "S1"
    assert floor_after("S1", "S2") == "S1"
    assert floor_after("S2", None) == "S2"
    assert [below_floor(k, "S2") for k in SEVERITY_ORDER] == [False, False, True, True]
    assert below_floor(None, "S2") and not below_floor("S4", None) and not below_floor(None, None)


def test_no_rule_matches():
    result = evaluate(DEFAULTS, ImpactFacts(arr_at_risk=Decimal(1000), users_affected_pct=Decimal(2)))
    assert result.severity is None
    assert result.matched == ()
    assert result.explanation == "No trigger rule matched."


def test_data_risk_is_s1_with_explanation():
    result = evaluate(DEFAULTS, ImpactFacts(data_risk=True))
    assert result.severity == "S1"
    assert result.explanation == "S1: Data risk"


def test_legal_risk_is_s1():
    assert evaluate(DEFAULTS, ImpactFacts(legal_risk=True)).explanation == "S1: Legal risk"


@pytest.mark.parametrize(
    ("pct", "severity"), [("9.99", None), ("10", "S1"), ("10.00", "S1"), ("55", "S1"), ("100", "S1")]
)
def test_users_affected_threshold_is_inclusive(pct, severity):
    assert evaluate(DEFAULTS, ImpactFacts(users_affected_pct=Decimal(pct))).severity == severity


@pytest.mark.parametrize(
    ("arr", "severity"), [("49999.99", None), ("50000", "S2"), ("50000.00", "S2"), ("1000000", "S2")]
)
def test_arr_threshold_is_inclusive(arr, severity):
    assert evaluate(DEFAULTS, ImpactFacts(arr_at_risk=Decimal(arr))).severity == severity


def test_highest_rule_wins_and_every_match_is_listed():
    facts = ImpactFacts(arr_at_risk=Decimal(60000), users_affected_pct=Decimal(12), legal_risk=True)
    result = evaluate(DEFAULTS, facts)
    assert result.severity == "S1"
    assert [r.name for r in result.matched] == [
        "10 % or more of users affected",
        "Legal risk",
        "$50,000 or more ARR at risk",
    ]
    # The explanation names the rules that set the severity, not the weaker ones.
    assert result.explanation == "S1: 10 % or more of users affected; Legal risk"


def test_order_of_rules_does_not_matter():
    facts = ImpactFacts(arr_at_risk=Decimal(60000), data_risk=True)
    assert evaluate(reversed(DEFAULTS), facts) == evaluate(DEFAULTS, facts)


def test_security_rule():
    rule = Rule("Security issue", "security", "S1")
    assert evaluate([rule], ImpactFacts(security_risk=True)).severity == "S1"
    assert evaluate([rule], ImpactFacts()).severity is None


def test_threshold_rule_without_threshold_never_matches():
    assert not rule_matches(Rule("broken", "arr_at_risk", "S2"), ImpactFacts(arr_at_risk=Decimal(10**9)))


def test_facts_given_as_int_or_float_compare_as_decimal():
    assert evaluate(DEFAULTS, ImpactFacts(arr_at_risk=50000)).severity == "S2"
    assert evaluate(DEFAULTS, ImpactFacts(users_affected_pct=10.0)).severity == "S1"


def test_no_progress_rule_fires_only_after_longer_than_threshold():
    rule = Rule("No progress for 2 hours", "no_progress", "S2", Decimal(120))
    stale = ImpactFacts(last_progress_at=T0, now=T0 + timedelta(minutes=121))
    exactly = ImpactFacts(last_progress_at=T0, now=T0 + timedelta(minutes=120))
    assert evaluate([rule], stale).severity == "S2"
    assert evaluate([rule], stale).explanation == "S2: No progress for 2 hours"
    assert evaluate([rule], exactly).severity is None  # "longer than": strictly
    assert evaluate([rule], ImpactFacts(now=T0)).severity is None  # never evaluated
    assert evaluate([rule], ImpactFacts(last_progress_at=T0)).severity is None


def test_no_progress_rule_raises_a_lower_floor():
    rules = [*DEFAULTS, Rule("Stalled", "no_progress", "S1", Decimal(30))]
    facts = ImpactFacts(arr_at_risk=Decimal(60000), last_progress_at=T0, now=T0 + timedelta(hours=1))
    assert evaluate(rules, facts).explanation == "S1: Stalled"


def test_unknown_rule_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown trigger kind"):
        evaluate([Rule("x", "vibes", "S1")], ImpactFacts())
