"""The escape valves' pure maths: which objective trigger makes an executive escalation
immediate, and what a case's breaches earn as a service credit — each figure worked out
by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from escalations.sla import Calendar, ImpactFacts, Pause, Rule
from escalations.sla.credits import BreachSpan, CreditRuleTerms, breached_time, credit_figure
from escalations.sla.triggers import executive_trigger

DATA = Rule("Data risk", "data_risk", "S1")
USERS = Rule("10 % of users", "users_affected_pct", "S1", Decimal(10))
ARR = Rule("$50k ARR", "arr_at_risk", "S2", Decimal(50000))
RULES = [DATA, USERS, ARR]


def test_a_trigger_of_the_cases_severity_makes_it_immediate():
    assert executive_trigger(RULES, ImpactFacts(data_risk=True), severity="S1") == DATA
    assert executive_trigger(RULES, ImpactFacts(users_affected_pct=Decimal(12)), severity="S1") == USERS


def test_a_less_severe_trigger_does_not_make_an_s1_immediate():
    assert executive_trigger(RULES, ImpactFacts(arr_at_risk=Decimal(80000)), severity="S1") is None
    # …but it does for an S2, and a more severe rule counts for a less severe case.
    assert executive_trigger(RULES, ImpactFacts(arr_at_risk=Decimal(80000)), severity="S2") == ARR
    assert executive_trigger(RULES, ImpactFacts(data_risk=True), severity="S2") == DATA


def test_no_matching_trigger_waits_for_a_manager():
    assert executive_trigger(RULES, ImpactFacts(), severity="S1") is None
    assert executive_trigger([], ImpactFacts(data_risk=True), severity="S1") is None


T = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # a Friday
H = timedelta(hours=1)
ENTERPRISE = CreditRuleTerms(percent_per_hour=Decimal(2), cap_percent=Decimal(10))
STANDARD = CreditRuleTerms(percent_per_hour=Decimal("0.5"), cap_percent=Decimal(5))


def test_breached_time_runs_from_due_until_kept_or_now_less_pauses():
    kept = BreachSpan(due_at=T, kept_at=T + 1.5 * H)
    assert breached_time(kept, now=T + 5 * H) == 1.5 * H
    unkept = BreachSpan(due_at=T + 0.5 * H)
    # 10:30 → 12:00 is 1 h 30, of which the 11:00–11:30 pause does not count.
    pause = [Pause(T + H, T + 1.5 * H)]
    assert breached_time(unkept, now=T + 2 * H, pauses=pause) == H
    # A breach kept after "now" counts only up to now.
    assert breached_time(BreachSpan(due_at=T, kept_at=T + 3 * H), now=T + H) == H


def test_several_breaches_add_up_and_the_rate_applies_per_hour():
    spans = [BreachSpan(due_at=T, kept_at=T + 1.5 * H), BreachSpan(due_at=T + 0.5 * H)]
    pause = [Pause(T + H, T + 1.5 * H)]
    # Breach 1: 10:00–11:30 less the 11:00–11:30 pause = 1 h; breach 2: 10:30–12:00 less
    # the pause = 1 h. 2 h × 2 %/h = 4 % of 10,000 = 400.00.
    figure = credit_figure(spans, terms=ENTERPRISE, monthly_fee=Decimal(10000), now=T + 2 * H, pauses=pause)
    assert figure.breached == 2 * H
    assert figure.percent == Decimal(4)
    assert figure.amount == Decimal("400.00")
    assert not figure.capped


def test_the_cap_limits_the_credit():
    # 6 h × 2 %/h = 12 %, capped at 10 % of 10,000 = 1,000.00.
    figure = credit_figure(
        [BreachSpan(due_at=T, kept_at=T + 6 * H)], terms=ENTERPRISE, monthly_fee=Decimal(10000), now=T + 7 * H
    )
    assert (figure.percent, figure.amount, figure.capped) == (Decimal(10), Decimal("1000.00"), True)


def test_tiers_give_different_credits_for_the_same_breach():
    span = [BreachSpan(due_at=T, kept_at=T + 2.5 * H)]
    # Enterprise: 2.5 h × 2 % = 5 % of 4,000 = 200.00. Standard: 2.5 h × 0.5 % = 1.25 % = 50.00.
    assert credit_figure(span, terms=ENTERPRISE, monthly_fee=Decimal(4000), now=T + 3 * H).amount == Decimal("200.00")
    assert credit_figure(span, terms=STANDARD, monthly_fee=Decimal(4000), now=T + 3 * H).amount == Decimal("50.00")


def test_no_rule_for_the_tier_earns_nothing():
    figure = credit_figure([BreachSpan(due_at=T)], terms=None, monthly_fee=Decimal(4000), now=T + H)
    assert figure.amount == Decimal("0.00") and figure.breached == H


def test_business_hours_count_only_working_time():
    london = Calendar(is_24x7=False, tz="Europe/London")
    # Due Friday 16:00 (London is on UTC in November), still unkept on Monday 10:00:
    # Friday 16:00–17:00 and Monday 09:00–10:00 = 2 h; the weekend does not count.
    span = BreachSpan(due_at=T.replace(hour=16))
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert breached_time(span, now=monday, calendar=london) == 2 * H
    figure = credit_figure([span], terms=ENTERPRISE, monthly_fee=Decimal(1000), now=monday, calendar=london)
    assert figure.amount == Decimal("40.00")  # 2 h × 2 % = 4 % of 1,000
